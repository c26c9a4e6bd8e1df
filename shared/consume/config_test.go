package consume

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
)

func TestConfigDefaults(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://u@h:5432/db")
	var cfg Config
	require.NoError(t, config.Load(&cfg))
	assert.Equal(t, 5, cfg.MaxDeliver)
	assert.Equal(t, 10000, cfg.BatchSize)
	assert.Equal(t, 50000, cfg.RollupChunk)
	assert.Equal(t, 200000, cfg.MaxRollupBacklog)
	assert.Equal(t, 100000, cfg.MaxEvents)
	assert.Equal(t, 20, cfg.MaxSeconds)
	assert.False(t, cfg.Continuous)
	assert.Equal(t, 30*time.Second, cfg.AckWait)
	assert.Equal(t, "postgres://u@h:5432/db", cfg.DatabaseURL, "the embedded parts are read too")
}

func TestConfigRejectsBadValuesNamingTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name, env, value, wantErr string
	}{
		{"max deliver zero", "MAX_DELIVER", "0", "MAX_DELIVER"},
		{"batch size not a number", "CONSUME_BATCH_SIZE", "many", "CONSUME_BATCH_SIZE"},
		{"batch size too large", "CONSUME_BATCH_SIZE", "50000", "CONSUME_BATCH_SIZE"},
		{"batch above max ack pending", "CONSUME_MAX_ACK_PENDING", "100", "CONSUME_MAX_ACK_PENDING"},
		{"ack wait too short", "ACK_WAIT", "10ms", "ACK_WAIT"},
		{"continuous not a bool", "CONSUME_CONTINUOUS", "sometimes", "CONSUME_CONTINUOUS"},
		{"max seconds zero", "CONSUME_MAX_SECONDS", "0", "CONSUME_MAX_SECONDS"},
		{"bad nats url", "NATS_URL", "http://x", "NATS_URL"},
		{"negative retry delay", "CONSUME_RETRY_DELAY", "-1s", "CONSUME_RETRY_DELAY"},
		{"negative rollup backlog limit", "ROLLUP_MAX_BACKLOG_EVENTS", "-1", "ROLLUP_MAX_BACKLOG_EVENTS"},
		{"dead letters below the events' subject", "NATS_DLQ_SUBJECT", "eventfn.events.dlq", "NATS_DLQ_SUBJECT"},
		{"dead letters above the events' subject", "NATS_DLQ_SUBJECT", "eventfn", "NATS_DLQ_SUBJECT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			var cfg Config
			err := config.Load(&cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
