package archive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// fileStorage is Storage on a local (or mounted) filesystem. Put writes a
// temporary file beside the final one, fsyncs it, renames it and fsyncs
// the directory, so a crash leaves either nothing or the whole file under
// its name.
type fileStorage struct {
	root string
}

var _ Storage = (*fileStorage)(nil)

func newFileStorage(root string) *fileStorage { return &fileStorage{root: root} }

func (s *fileStorage) abs(name string) string { return filepath.Join(s.root, filepath.FromSlash(name)) }

func (s *fileStorage) URL(name string) string {
	return "file://" + path.Join(filepath.ToSlash(s.root), name)
}

func (s *fileStorage) Put(ctx context.Context, name string, write func(w io.Writer) error) (int64, error) {
	final := s.abs(name)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("archive put %s: %w", name, err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(final)+"."+randomHex()+tempSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("archive put %s: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	cw := &countingWriter{w: f}
	if err := write(cw); err != nil {
		return 0, fmt.Errorf("archive put %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("archive put %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("archive put %s: sync: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("archive put %s: close: %w", name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return 0, fmt.Errorf("archive put %s: rename: %w", name, err)
	}
	ok = true
	// The rename is durable only once its directory is, and a new
	// directory only once its parent is.
	for _, d := range []string{dir, filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
		if err := syncDir(d); err != nil {
			return 0, fmt.Errorf("archive put %s: sync dir: %w", name, err)
		}
	}
	return cw.n, nil
}

func (s *fileStorage) List(ctx context.Context) ([]string, error) {
	projects, err := os.ReadDir(s.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive list: %w", err)
	}
	var out []string
	for _, p := range projects {
		if !p.IsDir() {
			continue
		}
		days, err := os.ReadDir(filepath.Join(s.root, p.Name()))
		if err != nil {
			return nil, fmt.Errorf("archive list: %w", err)
		}
		for _, d := range days {
			if !d.IsDir() {
				continue
			}
			files, err := os.ReadDir(filepath.Join(s.root, p.Name(), d.Name()))
			if err != nil {
				return nil, fmt.Errorf("archive list: %w", err)
			}
			for _, f := range files {
				if f.Type().IsRegular() {
					out = append(out, path.Join(p.Name(), d.Name(), f.Name()))
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *fileStorage) Remove(_ context.Context, name string) error {
	if err := os.Remove(s.abs(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("archive remove %s: %w", name, err)
	}
	return nil
}

func (s *fileStorage) Open(_ context.Context, name string) (io.ReaderAt, int64, io.Closer, error) {
	f, err := os.Open(s.abs(name))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("archive open %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, nil, fmt.Errorf("archive open %s: %w", name, err)
	}
	return f, st.Size(), f, nil
}

// Check creates the root if needed and writes and removes a probe file.
func (s *fileStorage) Check(_ context.Context) error {
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return fmt.Errorf("archive location %s: %w", s.root, err)
	}
	f, err := os.CreateTemp(s.root, ".probe-*"+tempSuffix)
	if err != nil {
		return fmt.Errorf("archive location %s is not writable: %w", s.root, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("archive location %s: %w", s.root, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
