package archive

import (
	"context"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeS3Credentials are any: the fake server does not check signatures.
// Static ones keep the client from looking for a role off the machine.
var fakeS3Credentials = credentials.NewStaticV4("eventfn", "eventfn-secret", "")

func TestOpenStorageS3(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, endpoint       string
		bucket, prefix, key string
		host                string
		secure              bool
	}{
		{url: "s3://eventfn-archive/events", bucket: "eventfn-archive", prefix: "events", key: "events/n", host: "s3.amazonaws.com", secure: true},
		{url: "s3://eventfn-archive/a/b/", endpoint: "minio:9000", bucket: "eventfn-archive", prefix: "a/b", key: "a/b/n", host: "minio:9000", secure: true},
		{url: "s3://eventfn-archive", endpoint: "http://minio:9000", bucket: "eventfn-archive", prefix: "", key: "n", host: "minio:9000"},
		{url: "s3://eventfn-archive/", endpoint: "https://s3.example.com/", bucket: "eventfn-archive", prefix: "", key: "n", host: "s3.example.com", secure: true},
	} {
		t.Run(tc.url+" "+tc.endpoint, func(t *testing.T) {
			st, err := OpenStorage(tc.url, S3Options{Endpoint: tc.endpoint, Credentials: fakeS3Credentials})
			require.NoError(t, err)
			s := st.(*s3Storage)
			assert.Equal(t, tc.bucket, s.bucket)
			assert.Equal(t, tc.prefix, s.prefix)
			assert.Equal(t, tc.key, s.key("n"))
			assert.Equal(t, "s3://"+tc.bucket+"/"+tc.key, s.URL("n"))
			assert.Equal(t, tc.host, s.client.EndpointURL().Host)
			assert.Equal(t, tc.secure, s.client.EndpointURL().Scheme == "https")
		})
	}
}

func TestUploadTempNameRoundTrip(t *testing.T) {
	t.Parallel()
	name := "project=p/date=2020-01-01/0123456789ab-000000000001.parquet"
	// AWS upload IDs carry dots, dashes and underscores; others slashes.
	for _, id := range []string{"1", "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA.-_x", "a/b+c=="} {
		temp := uploadTempName(name, id)
		assert.True(t, IsTemp(temp), temp)
		assert.True(t, strings.HasPrefix(temp, "project=p/date=2020-01-01/.0123456789ab-"), "the archiver knows its own: %s", temp)
		got, gotID, ok := parseUploadTempName(temp)
		require.True(t, ok, temp)
		assert.Equal(t, name, got)
		assert.Equal(t, id, gotID)
	}
	for _, temp := range []string{name, "project=p/date=2020-01-01/.x.parquet.abc.tmp", "project=p/date=2020-01-01/.x.parquet.upload-.tmp"} {
		_, _, ok := parseUploadTempName(temp)
		assert.False(t, ok, temp)
	}
}

// TestS3UnfinishedUploadIsListedAndAborted: what a Put interrupted by a
// crash leaves (an upload never completed) is a temporary name, and
// removing that name aborts the upload.
func TestS3UnfinishedUploadIsListedAndAborted(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{fakeS3Backend, realS3Backend} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			loc := b.open(t)
			s := loc.Storage.(*s3Storage)
			name := "project=p/date=2020-01-01/0123456789ab-000000000001.parquet"
			core := minio.Core{Client: s.client}
			id, err := core.NewMultipartUpload(ctx, s.bucket, s.key(name), minio.PutObjectOptions{})
			require.NoError(t, err)
			_, err = core.PutObjectPart(ctx, s.bucket, s.key(name), id, 1, strings.NewReader("part"), 4, minio.PutObjectPartOptions{})
			require.NoError(t, err)

			names := loc.names(t)
			require.Equal(t, []string{uploadTempName(name, id)}, names)
			require.NoError(t, loc.Remove(ctx, names[0]))
			assert.Empty(t, loc.names(t))
			assert.NoError(t, loc.Remove(ctx, names[0]), "aborting twice is no error")
			assert.False(t, loc.exists(t, name))
		})
	}
}

// TestS3ListStaysUnderThePrefix: a prefix is a directory, not a string
// prefix: s3://b/archive/x does not see s3://b/archive/xy.
func TestS3ListStaysUnderThePrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	endpoint := startFakeS3(t)
	open := func(raw string) location {
		return openLocation(t, raw, S3Options{Endpoint: endpoint, Credentials: fakeS3Credentials})
	}
	x, xy, root := open("s3://"+fakeS3Bucket+"/archive/x"), open("s3://"+fakeS3Bucket+"/archive/xy"), open("s3://"+fakeS3Bucket)
	name := "project=p/date=2020-01-01/f.parquet"
	x.put(t, name, []byte("x"))
	xy.put(t, name, []byte("xy"))
	assert.Equal(t, []string{name}, x.names(t))
	assert.Equal(t, []byte("x"), x.read(t, name))
	assert.Empty(t, root.names(t), "archive/x/project=p/... is four levels below the bucket")
	require.NoError(t, x.Remove(ctx, name))
	assert.Equal(t, []string{name}, xy.names(t))
}
