package archive

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/eventfn/eventfn/shared/config"
)

// S3Options are the settings of an s3:// ARCHIVE_URL beside the URL.
type S3Options struct {
	// Endpoint is ARCHIVE_S3_ENDPOINT: host[:port] (HTTPS) or
	// http(s)://host[:port] of an S3-compatible service; empty is AWS S3.
	Endpoint string
	// Region is ARCHIVE_S3_REGION; empty is us-east-1.
	Region string
	// Credentials, when nil, are the standard chain (see s3Credentials).
	// Tests set static ones so that no lookup leaves the machine.
	Credentials *credentials.Credentials
}

// defaultS3Region is what requests are signed for when ARCHIVE_S3_REGION
// is empty: AWS's default, and what MinIO accepts unless configured.
const defaultS3Region = "us-east-1"

// s3PartSize is the part of a streamed upload held in memory: the one
// buffer a Put needs, whatever the file's size. S3 allows 10,000 parts, so
// a file may reach 160 GiB; parts must be at least 5 MiB.
const s3PartSize = 16 << 20

// uploadMarker sits between an object's base name and the (base64url)
// upload ID in the temporary name List gives an unfinished upload.
const uploadMarker = ".upload-"

// s3Storage is Storage in an S3 bucket under a key prefix. A Put is one
// multipart upload streamed from the writer: S3 makes the object visible
// only when the upload completes, so a name holds the whole file or
// nothing. An upload that was started and never completed (a crash) is
// not an object, but it keeps its parts; List reports it as a temporary
// name and Remove aborts it, so the archiver's orphan sweep clears it like
// a temporary file.
type s3Storage struct {
	client *minio.Client
	bucket string
	// prefix is the key prefix without slashes at either end; "" is the
	// bucket's root.
	prefix string
	// partSize is s3PartSize; tests lower it to see several parts.
	partSize uint64
}

var _ Storage = (*s3Storage)(nil)

// newS3Storage opens raw, s3://bucket/prefix, parsed as u. It makes no
// request: the bucket is first reached by Check or a run.
func newS3Storage(raw string, u *url.URL, opts S3Options) (*s3Storage, error) {
	if u.User != nil {
		// Say what is wrong without echoing a secret into the logs.
		return nil, fmt.Errorf("ARCHIVE_URL %q: an s3 URL holds no credentials; they come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("ARCHIVE_URL %q: an s3 URL names a bucket: s3://bucket/optional/prefix", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("ARCHIVE_URL %q: an s3 URL is s3://bucket/optional/prefix, without query or fragment", raw)
	}
	if err := s3utils.CheckValidBucketNameStrict(u.Host); err != nil {
		return nil, fmt.Errorf("ARCHIVE_URL %q: bucket %q: %v", raw, u.Host, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		for seg := range strings.SplitSeq(prefix, "/") {
			// Keys are not paths, but an empty, . or .. segment would make
			// URL() and a filesystem copy of the bucket disagree.
			if seg == "" || seg == "." || seg == ".." {
				return nil, fmt.Errorf("ARCHIVE_URL %q: the prefix has an empty, . or .. segment", raw)
			}
		}
	}
	region := cmp.Or(opts.Region, defaultS3Region)
	host, secure, err := s3Endpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	creds := opts.Credentials
	if creds == nil {
		creds = s3Credentials(region)
	}
	client, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: region})
	if err != nil {
		return nil, fmt.Errorf("ARCHIVE_S3_ENDPOINT %q: %v", opts.Endpoint, err)
	}
	return &s3Storage{client: client, bucket: u.Host, prefix: prefix, partSize: s3PartSize}, nil
}

// s3Endpoint returns the host[:port] and TLS choice of ARCHIVE_S3_ENDPOINT.
// Empty is AWS S3: with the region set, the client addresses the regional
// endpoint itself.
func s3Endpoint(raw string) (host string, secure bool, err error) {
	if raw == "" {
		return "s3.amazonaws.com", true, nil
	}
	withScheme := raw
	if !strings.Contains(raw, "://") {
		withScheme = "https://" + raw
	}
	u, err := url.Parse(withScheme)
	if err == nil && u.User != nil {
		return "", false, fmt.Errorf("ARCHIVE_S3_ENDPOINT %q: holds no credentials; they come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", u.Redacted())
	}
	bad := fmt.Errorf("ARCHIVE_S3_ENDPOINT %q: want host[:port] (HTTPS) or http(s)://host[:port], e.g. http://minio:9000", raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return "", false, bad
	}
	if p := u.Port(); p != "" && !config.ValidPort(p) {
		return "", false, fmt.Errorf("ARCHIVE_S3_ENDPOINT %q: port %s is not a TCP port (1-65535)", raw, p)
	}
	switch u.Scheme {
	case "https":
		return u.Host, true, nil
	case "http":
		return u.Host, false, nil
	default:
		return "", false, bad
	}
}

// s3Credentials is the chain every AWS tool reads: AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), then MinIO's
// MINIO_ROOT_USER / MINIO_ROOT_PASSWORD, then the role of the pod or
// instance (IRSA web identity, ECS container credentials, EC2 metadata).
// Nothing is looked up until the first request.
func s3Credentials(region string) *credentials.Credentials {
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.EnvMinio{},
		&credentials.IAM{Region: region},
	})
}

// key is the object key of name.
func (s *s3Storage) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

// root is the key prefix of every name, "" or ending in a slash.
func (s *s3Storage) root() string {
	if s.prefix == "" {
		return ""
	}
	return s.prefix + "/"
}

func (s *s3Storage) URL(name string) string {
	return "s3://" + s.bucket + "/" + s.key(name)
}

// Put streams what write produces into one multipart upload through a
// pipe, so memory holds one part (partSize), never the file, and nothing
// is written to local disk (function containers may have none to spare).
// The upload completes only after write returned nil; any other end
// aborts it.
func (s *s3Storage) Put(ctx context.Context, name string, write func(w io.Writer) error) (int64, error) {
	key := s.key(name)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.client.PutObject(ctx, s.bucket, key, pr, -1, minio.PutObjectOptions{
			PartSize:    s.partSize,
			ContentType: "application/vnd.apache.parquet",
		})
		// A writer still writing after a failed upload gets its error
		// instead of blocking.
		_ = pr.CloseWithError(err)
		done <- err
	}()
	cw := &countingWriter{w: pw}
	err := write(cw)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		// The client completes an upload at io.EOF, and takes a bare
		// io.ErrUnexpectedEOF for one too: the error it reads must be
		// neither, so it is always wrapped.
		_ = pw.CloseWithError(fmt.Errorf("archive put %s aborted: %w", name, err))
		if upErr := <-done; upErr == nil {
			// Cannot happen (see above); were it to, the partial object
			// must not stay under its name.
			_ = s.client.RemoveObject(context.WithoutCancel(ctx), s.bucket, key, minio.RemoveObjectOptions{})
		}
		return 0, fmt.Errorf("archive put %s: %w", name, err)
	}
	_ = pw.Close()
	if err := <-done; err != nil {
		return 0, fmt.Errorf("archive put %s: upload: %w", name, err)
	}
	return cw.n, nil
}

// List returns the objects two levels below the prefix and, as temporary
// names, the unfinished uploads there.
func (s *s3Storage) List(ctx context.Context) ([]string, error) {
	root := s.root()
	var out []string
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: root, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("archive list %s: %w", s.URL(""), obj.Err)
		}
		if name := strings.TrimPrefix(obj.Key, root); strings.Count(name, "/") == 2 {
			out = append(out, name)
		}
	}
	for up := range s.client.ListIncompleteUploads(ctx, s.bucket, root, true) {
		if up.Err != nil {
			// Listing uploads needs s3:ListBucketMultipartUploads, which a
			// hand-written policy may lack; archiving works without it,
			// and a lifecycle rule can abort what is left.
			if minio.ToErrorResponse(up.Err).Code == minio.AccessDenied {
				break
			}
			return nil, fmt.Errorf("archive list uploads %s: %w", s.URL(""), up.Err)
		}
		if name := strings.TrimPrefix(up.Key, root); strings.Count(name, "/") == 2 {
			out = append(out, uploadTempName(name, up.UploadID))
		}
	}
	return out, nil
}

// uploadTempName names the unfinished upload uploadID of name as a
// temporary object beside it (IsTemp holds). base64url keeps any upload ID
// free of slashes and dots.
func uploadTempName(name, uploadID string) string {
	return path.Join(path.Dir(name), "."+path.Base(name)+uploadMarker+base64.RawURLEncoding.EncodeToString([]byte(uploadID))+tempSuffix)
}

// parseUploadTempName reverses uploadTempName.
func parseUploadTempName(temp string) (name, uploadID string, ok bool) {
	if !IsTemp(temp) {
		return "", "", false
	}
	base := strings.TrimSuffix(strings.TrimPrefix(path.Base(temp), "."), tempSuffix)
	i := strings.LastIndex(base, uploadMarker)
	if i < 0 {
		return "", "", false
	}
	id, err := base64.RawURLEncoding.DecodeString(base[i+len(uploadMarker):])
	if err != nil || len(id) == 0 {
		return "", "", false
	}
	return path.Join(path.Dir(temp), base[:i]), string(id), true
}

// Remove deletes the object name or, for an unfinished upload's temporary
// name, aborts the upload.
func (s *s3Storage) Remove(ctx context.Context, name string) error {
	if final, uploadID, ok := parseUploadTempName(name); ok {
		err := minio.Core{Client: s.client}.AbortMultipartUpload(ctx, s.bucket, s.key(final), uploadID)
		if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
			return fmt.Errorf("archive remove %s: abort upload: %w", name, err)
		}
		return nil
	}
	// S3 deletes a missing key without complaint; some compatible servers
	// answer NoSuchKey.
	err := s.client.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return fmt.Errorf("archive remove %s: %w", name, err)
	}
	return nil
}

// Open reads name with ranged GETs: the returned minio Object is an
// io.ReaderAt, and a Parquet reader fetches only the footer and the pages
// it needs.
func (s *s3Storage) Open(ctx context.Context, name string) (io.ReaderAt, int64, io.Closer, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("archive open %s: %w", name, err)
	}
	st, err := obj.Stat()
	if err != nil {
		_ = obj.Close()
		return nil, 0, nil, fmt.Errorf("archive open %s: %w", name, err)
	}
	return obj, st.Size, obj, nil
}

// Check confirms the bucket exists and writes and removes a probe object
// under the prefix: the credentials, the endpoint, the region and the
// policy all take part in that, as in a run. The probe is at the prefix's
// top, where List never looks.
func (s *s3Storage) Check(ctx context.Context) error {
	where := s.URL("")
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("archive location %s: %w", where, err)
	}
	if !ok {
		return fmt.Errorf("archive location %s: bucket %q does not exist", where, s.bucket)
	}
	probe := s.key(".probe-" + randomHex() + tempSuffix)
	body := []byte("eventfn archive probe\n")
	if _, err := s.client.PutObject(ctx, s.bucket, probe, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("archive location %s is not writable: %w", where, err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, probe, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("archive location %s: remove probe: %w", where, err)
	}
	return nil
}
