package archive

import (
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Storage contract, checked on every backend: what the archiver's
// crash safety rests on.

func TestStoragePutIsAtomic(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		loc := b.open(t)
		if s, ok := loc.Storage.(*s3Storage); ok {
			s.partSize = 5 << 20 // S3's least: a few parts for this file
		}
		content := make([]byte, 11<<20+123)
		_, _ = rand.Read(content)
		name := "project=p/date=2020-01-01/inst-000000000001.parquet"

		n, err := loc.Put(ctx, name, func(w io.Writer) error {
			if _, err := w.Write(content[:6<<20]); err != nil {
				return err
			}
			// Part of the file is out; the name shows none of it.
			assert.NotContains(t, loc.names(t), name)
			_, _, _, err := loc.Open(ctx, name)
			assert.Error(t, err)
			_, err = w.Write(content[6<<20:])
			return err
		})
		require.NoError(t, err)
		assert.EqualValues(t, len(content), n)
		assert.Equal(t, []string{name}, loc.names(t))
		assert.Equal(t, content, loc.read(t, name), "the whole file, byte for byte")
	})
}

func TestStorageFailedPutLeavesNoName(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.open(t)
		if s, ok := loc.Storage.(*s3Storage); ok {
			s.partSize = 5 << 20 // a failure after a whole part went up
		}
		content := make([]byte, 6<<20)
		for _, tc := range []struct {
			name string
			// fail is what write returns after writing content, and
			// cancels the context first when cancel is set.
			fail   error
			cancel bool
		}{
			{name: "write fails", fail: errInjected},
			// An S3 client takes these for the end of the body: the
			// partial file must not be completed.
			{name: "write returns EOF", fail: io.EOF},
			{name: "write returns unexpected EOF", fail: io.ErrUnexpectedEOF},
			{name: "context cancelled", cancel: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				name := "project=p/date=2020-01-01/" + randomHex() + ".parquet"
				_, err := loc.Put(ctx, name, func(w io.Writer) error {
					if _, err := w.Write(content); err != nil {
						return err
					}
					if tc.cancel {
						cancel()
					}
					return tc.fail
				})
				require.Error(t, err)
				if tc.fail != nil {
					assert.ErrorIs(t, err, tc.fail)
				}
				for _, got := range loc.names(t) {
					assert.True(t, IsTemp(got), "only temporary names may stay: %s", got)
				}
				_, _, _, err = loc.Open(context.Background(), name)
				assert.Error(t, err)
			})
		}
	})
}

func TestStorageListsTwoLevelsBelowTheRoot(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.open(t)
		assert.Empty(t, loc.names(t), "a new location lists nothing")
		listed := []string{
			"project=p/date=2020-01-01/a.parquet",
			"project=p/date=2020-01-01/.a.parquet.x.tmp",
			"project=p/date=2020-01-02/b.parquet",
			"project=q/date=2020-01-01/notes.txt",
		}
		unlisted := []string{"top.parquet", "project=p/loose.parquet", "project=p/date=2020-01-01/deeper/c.parquet"}
		for _, name := range append(append([]string{}, listed...), unlisted...) {
			loc.put(t, name, []byte(name))
		}
		assert.Equal(t, sorted(listed), loc.names(t))
	})
}

func TestStorageRemove(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		loc := b.open(t)
		keep, gone := "project=p/date=2020-01-01/keep.parquet", "project=p/date=2020-01-01/gone.parquet"
		loc.put(t, keep, []byte("keep"))
		loc.put(t, gone, []byte("gone"))
		require.NoError(t, loc.Remove(ctx, gone))
		assert.Equal(t, []string{keep}, loc.names(t))
		assert.NoError(t, loc.Remove(ctx, gone), "removing a missing name is no error")
		assert.NoError(t, loc.Remove(ctx, "project=x/date=2020-01-01/never.parquet"))
		assert.Equal(t, []byte("keep"), loc.read(t, keep))
	})
}

func TestStorageOpenReadsAtOffsets(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		loc := b.open(t)
		name := "project=p/date=2020-01-01/f.parquet"
		loc.put(t, name, []byte("0123456789"))
		r, size, c, err := loc.Open(ctx, name)
		require.NoError(t, err)
		defer c.Close()
		assert.EqualValues(t, 10, size)
		buf := make([]byte, 3)
		_, err = r.ReadAt(buf, 6)
		require.NoError(t, err)
		assert.Equal(t, "678", string(buf))
		_, err = r.ReadAt(buf, 2)
		require.NoError(t, err)
		assert.Equal(t, "234", string(buf))

		_, _, _, err = loc.Open(ctx, "project=p/date=2020-01-01/missing.parquet")
		assert.Error(t, err)
	})
}

func TestStorageCheck(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		loc := b.open(t)
		require.NoError(t, loc.Check(ctx))
		assert.Empty(t, loc.names(t), "the probe is gone and was never listed")
		assert.Error(t, b.unwritable(t).Check(ctx))
	})
}
