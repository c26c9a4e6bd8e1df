package ingest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
	"github.com/eventfn/eventfn/shared/ingest"
)

func TestConfigDefaults(t *testing.T) {
	var cfg ingest.Config
	require.NoError(t, config.Load(&cfg))
	assert.Equal(t, 24*time.Hour, cfg.DedupWindow)
	assert.Equal(t, 32768, cfg.MaxEventBytes)
	assert.Equal(t, 1000, cfg.MaxBatchEvents)
	assert.Equal(t, 1<<20, cfg.MaxBodyBytes)
	assert.Equal(t, 8080, cfg.Port)
	assert.Equal(t, "EVENTFN", cfg.Stream)
	assert.Equal(t, "eventfn:", cfg.RedisPrefix)
}

// TestConfigInvalidValueNamesTheVariable: a bad setting stops the function
// at start with a message naming the variable.
func TestConfigInvalidValueNamesTheVariable(t *testing.T) {
	tests := []struct{ name, value string }{
		{"DEDUP_WINDOW", "soon"},
		{"DEDUP_WINDOW", "-1s"},
		{"PORT", "eighty"},
		{"PORT", "70000"},
		{"LOG_LEVEL", "loud"},
		{"MAX_BATCH_EVENTS", "0"},
		{"NATS_STREAM", "a.b"},
		{"NATS_URL", "http://x"},
		{"REDIS_URL", "mysql://x"},
		{"AUTH_DISABLED", "maybe"},
		{"RATE_LIMIT_EVENTS_BURST", "10"},
		{"PORT", "0"},
		{"SHUTDOWN_TIMEOUT", "0s"},
		{"SHUTDOWN_TIMEOUT", "-5s"},
		{"REDIS_URL", "redis://127.0.0.1:99999/0"},
		{"REDIS_PREFIX", ""},
		{"NATS_URL", "nats://127.0.0.1:99999"},
		{"NATS_URL", "nats://127.0.0.1:4222,http://x"},
		{"CORS_ALLOWED_ORIGINS", "example.com"},
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com,https://x.example.com/path"},
	}
	for _, tc := range tests {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			var cfg ingest.Config
			err := config.Load(&cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.name)
		})
	}
}

func TestConfigAcceptsOrigins(t *testing.T) {
	t.Setenv("CORS_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:3000/ ,*")
	var cfg ingest.Config
	require.NoError(t, config.Load(&cfg))
}
