// Command archive serves the archive function on $PORT: it moves days older
// than HOT_DAYS from PostgreSQL into Parquet files under ARCHIVE_URL.
package main

import (
	"os"

	"github.com/eventfn/eventfn/shared/archive"
	"github.com/eventfn/eventfn/shared/serve"
)

func main() { os.Exit(serve.Main(archive.Spec)) }
