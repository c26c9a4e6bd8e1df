package archive

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
)

func TestConfigDefaults(t *testing.T) {
	for _, name := range []string{"HOT_DAYS", "ARCHIVE_URL", "ARCHIVE_EVERY"} {
		t.Setenv(name, "") // restored after the test
		require.NoError(t, os.Unsetenv(name))
	}
	var cfg Config
	require.NoError(t, config.Load(&cfg))
	assert.Equal(t, 30, cfg.HotDays)
	assert.Equal(t, "file:///var/lib/eventfn/archive", cfg.ArchiveURL)
	assert.Equal(t, time.Duration(0), cfg.ArchiveEvery.Duration())
}

func TestConfigArchiveEveryTakesDurationsAndSeconds(t *testing.T) {
	for value, want := range map[string]time.Duration{"3600": time.Hour, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "0": 0} {
		t.Setenv("ARCHIVE_EVERY", value)
		var cfg Config
		require.NoError(t, config.Load(&cfg), value)
		assert.Equal(t, want, cfg.ArchiveEvery.Duration(), value)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name, env, value, want string
	}{
		{"zero hot days", "HOT_DAYS", "0", "HOT_DAYS"},
		{"hot days not a number", "HOT_DAYS", "many", "HOT_DAYS"},
		{"negative interval", "ARCHIVE_EVERY", "-1s", "ARCHIVE_EVERY"},
		{"negative seconds", "ARCHIVE_EVERY", "-5", "ARCHIVE_EVERY"},
		{"interval not a duration", "ARCHIVE_EVERY", "often", "ARCHIVE_EVERY"},
		{"s3 not supported", "ARCHIVE_URL", "s3://bucket/prefix", "ARCHIVE_URL \"s3://bucket/prefix\": s3 is not supported by this version; use file://"},
		{"other scheme", "ARCHIVE_URL", "http://example.com/x", "ARCHIVE_URL"},
		{"relative file path", "ARCHIVE_URL", "file://archive/x", "ARCHIVE_URL"},
		{"filesystem root", "ARCHIVE_URL", "file:///", "ARCHIVE_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			var cfg Config
			err := config.Load(&cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
