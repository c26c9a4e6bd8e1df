package gateway_test

import (
	"testing"

	"github.com/eventfn/eventfn/shared/testenv"
)

// setFunctionEnv gives every function of gateway.Functions, through the
// environment as `make run` does, a database, streams and a key prefix of
// the test's own, and API keys: shop's write and read keys wk_e2e and
// rk_e2e, and another project's read key rk_other. It returns the archive
// directory.
func setFunctionEnv(t *testing.T) string {
	t.Helper()
	rcfg, _ := testenv.Redis(t)
	ncfg := testenv.NATS(t, testenv.NATSURL())
	archiveDir := t.TempDir()
	for k, v := range map[string]string{
		"DATABASE_URL":       testenv.Database(t),
		"REDIS_URL":          testenv.RedisURL(),
		"REDIS_PREFIX":       rcfg.RedisPrefix,
		"NATS_URL":           ncfg.NATSURL,
		"NATS_STREAM":        ncfg.Stream,
		"NATS_SUBJECT":       ncfg.Subject,
		"NATS_CONSUMER":      ncfg.Consumer,
		"NATS_DLQ_STREAM":    ncfg.DLQStream,
		"NATS_DLQ_SUBJECT":   ncfg.DLQSubject,
		"API_KEYS":           "wk_e2e=shop:write,rk_e2e=shop:read,rk_other=other:read",
		"CONSUME_CONTINUOUS": "true",
		"ARCHIVE_URL":        "file://" + archiveDir,
		"HOT_DAYS":           "30",
		"ARCHIVE_EVERY":      "0",
		"ADMIN_KEY":          "",
	} {
		t.Setenv(k, v)
	}
	return archiveDir
}
