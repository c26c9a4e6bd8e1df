package gateway

import (
	"github.com/eventfn/eventfn/shared/archive"
	"github.com/eventfn/eventfn/shared/consume"
	"github.com/eventfn/eventfn/shared/dashboard"
	"github.com/eventfn/eventfn/shared/ingest"
	"github.com/eventfn/eventfn/shared/serve"
	"github.com/eventfn/eventfn/shared/stats"
)

// Functions are all seven, built the way their own mains build them: what
// `make run` serves, and what the gateway's end-to-end test drives.
var Functions = []serve.Spec{
	ingest.Spec,
	consume.Spec,
	stats.DAUSpec,
	stats.TopSpec,
	stats.RetentionSpec,
	archive.Spec,
	dashboard.Spec,
}
