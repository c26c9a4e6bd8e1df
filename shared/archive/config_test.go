package archive

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventfn/eventfn/shared/config"
)

func TestConfigDefaults(t *testing.T) {
	var cfg Config
	require.NoError(t, config.Load(&cfg))
	assert.Equal(t, 30, cfg.HotDays)
	assert.Equal(t, "file:///var/lib/eventfn/archive", cfg.ArchiveURL)
	assert.Equal(t, time.Duration(0), cfg.ArchiveEvery.Duration())
	assert.Empty(t, cfg.ArchiveS3Endpoint, "AWS S3")
	assert.Equal(t, "us-east-1", cfg.ArchiveS3Region)
}

// TestConfigS3 is what the OpenFaaS and Knative manifests set. Loading
// makes no request, so no S3 service is needed.
func TestConfigS3(t *testing.T) {
	t.Setenv("ARCHIVE_URL", "s3://eventfn-archive/events")
	t.Setenv("ARCHIVE_S3_REGION", "eu-west-1")
	for _, endpoint := range []string{"", "minio:9000", "http://minio:9000", "https://s3.example.com/", "http://127.0.0.1:9000"} {
		t.Setenv("ARCHIVE_S3_ENDPOINT", endpoint)
		var cfg Config
		require.NoError(t, config.Load(&cfg), endpoint)
		assert.Equal(t, endpoint, cfg.ArchiveS3Endpoint)
		assert.Equal(t, "eu-west-1", cfg.ArchiveS3Region)
		st, err := cfg.Storage()
		require.NoError(t, err)
		assert.Equal(t, "s3://eventfn-archive/events/project=p/date=2020-01-01/f.parquet", st.URL("project=p/date=2020-01-01/f.parquet"))
	}
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
		{"s3 without bucket", "ARCHIVE_URL", "s3:///events", `ARCHIVE_URL "s3:///events": an s3 URL names a bucket`},
		{"s3 opaque", "ARCHIVE_URL", "s3:events", "ARCHIVE_URL"},
		{"s3 invalid bucket name", "ARCHIVE_URL", "s3://Not_A_Bucket/events", "ARCHIVE_URL"},
		{"s3 bucket with port", "ARCHIVE_URL", "s3://bucket:9000/events", "ARCHIVE_URL"},
		{"s3 credentials in the URL", "ARCHIVE_URL", "s3://key:secret@bucket/events", "ARCHIVE_URL"},
		{"s3 dot-dot prefix", "ARCHIVE_URL", "s3://bucket/a/../b", "ARCHIVE_URL"},
		{"s3 empty prefix segment", "ARCHIVE_URL", "s3://bucket/a//b", "ARCHIVE_URL"},
		{"other scheme", "ARCHIVE_URL", "http://example.com/x", "ARCHIVE_URL"},
		{"relative file path", "ARCHIVE_URL", "file://archive/x", "ARCHIVE_URL"},
		{"filesystem root", "ARCHIVE_URL", "file:///", "ARCHIVE_URL"},
		{"endpoint scheme", "ARCHIVE_S3_ENDPOINT", "ftp://minio:9000", "ARCHIVE_S3_ENDPOINT"},
		{"endpoint path", "ARCHIVE_S3_ENDPOINT", "http://minio:9000/bucket", "ARCHIVE_S3_ENDPOINT"},
		{"endpoint without host", "ARCHIVE_S3_ENDPOINT", "http://", "ARCHIVE_S3_ENDPOINT"},
		{"endpoint port out of range", "ARCHIVE_S3_ENDPOINT", "http://127.0.0.1:99999", "ARCHIVE_S3_ENDPOINT"},
		{"endpoint with credentials", "ARCHIVE_S3_ENDPOINT", "http://key:secret@minio:9000", "ARCHIVE_S3_ENDPOINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The endpoint is read for an s3 ARCHIVE_URL only.
			t.Setenv("ARCHIVE_URL", "s3://eventfn-archive/events")
			t.Setenv(tc.env, tc.value)
			var cfg Config
			err := config.Load(&cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "secret", "no credential is echoed")
		})
	}
}
