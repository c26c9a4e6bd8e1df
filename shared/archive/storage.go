package archive

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
)

// Storage holds archive files under one root. Names are slash-separated
// paths relative to the root (project=P/date=YYYY-MM-DD/NAME.parquet).
type Storage interface {
	// Put stores what write produces under name, atomically: until Put
	// returns nil, name does not exist; once it does, the whole content is
	// durable under name. A failed Put may leave a temporary object (see
	// IsTemp) but never a partial name. It returns the size in bytes.
	Put(ctx context.Context, name string, write func(w io.Writer) error) (int64, error)
	// List returns the names of the files and temporary objects two levels
	// below the root (project=*/date=*/), whatever their base name.
	List(ctx context.Context) ([]string, error)
	// Remove deletes name; a missing name is no error.
	Remove(ctx context.Context, name string) error
	// Open returns a reader of name and its size, for tests and tools.
	Open(ctx context.Context, name string) (io.ReaderAt, int64, io.Closer, error)
	// Check reports whether the root can be written now.
	Check(ctx context.Context) error
	// URL returns the location of name, as ARCHIVE_URL spells the root.
	URL(name string) string
}

// tempSuffix ends the name of an object being written; IsTemp recognises
// it.
const tempSuffix = ".tmp"

// IsTemp reports whether name is a temporary object of Put.
func IsTemp(name string) bool {
	return strings.HasPrefix(path.Base(name), ".") && strings.HasSuffix(name, tempSuffix)
}

// OpenStorage returns the Storage ARCHIVE_URL names: file:///absolute/path
// or s3://bucket/optional/prefix, the latter with s3's settings. It makes
// no request and touches no file (Check does). Errors name the variable at
// fault.
func OpenStorage(raw string, s3 S3Options) (Storage, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("ARCHIVE_URL %q is not a URL: %v", raw, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("ARCHIVE_URL %q: a file URL has no host; use file:///absolute/path", raw)
		}
		if !path.IsAbs(u.Path) || path.Clean(u.Path) == "/" {
			return nil, fmt.Errorf("ARCHIVE_URL %q: the path must be absolute and not the filesystem root", raw)
		}
		return newFileStorage(path.Clean(u.Path)), nil
	case "s3":
		return newS3Storage(raw, u, s3)
	default:
		return nil, fmt.Errorf("ARCHIVE_URL %q: scheme %q is neither file nor s3", raw, u.Scheme)
	}
}
