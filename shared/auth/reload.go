package auth

import (
	"crypto/sha256"
	"log/slog"
	"sync"
	"time"
)

// ReloadEvery is how often Watch reads API_KEYS_FILE: a key added to or
// revoked from the file counts within about this long.
const ReloadEvery = time.Second

// Reload reads API_KEYS_FILE again and, when its content changed and is
// valid, makes its keys (with API_KEYS) the ones Authorize uses. It
// reports whether the keys changed. A file that cannot be read or holds a
// malformed entry is an error, and the previous keys stay: a secret being
// rewritten, or written wrong, never locks every client out. An empty
// file is valid: it holds no keys. The content is compared, not the
// modification time: a Kubernetes secret update swaps a symbolic link to
// a new file, whose time says nothing.
func (k *Keys) Reload() (changed bool, err error) {
	changed, _, err = k.reload()
	return changed, err
}

// reload is Reload, also returning the hash of the content it read.
func (k *Keys) reload() (changed bool, sum [32]byte, err error) {
	if k.file == "" {
		return false, sum, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	content, err := k.readFile()
	if err != nil {
		return false, sum, err
	}
	sum = sha256.Sum256(content)
	if sum == k.sum {
		return false, sum, nil
	}
	set, err := k.build(content)
	if err != nil {
		return false, sum, err
	}
	k.set.Store(&set)
	k.sum = sum
	return true, sum, nil
}

// Watch reloads API_KEYS_FILE every interval (ReloadEvery in the
// functions) in a goroutine of its own until the returned stop is called;
// stop waits for it to end. It logs each change, and why a changed file
// was refused, once per content rather than at every read. Without
// API_KEYS_FILE it starts nothing.
func (k *Keys) Watch(log *slog.Logger, interval time.Duration) (stop func()) {
	if k.file == "" {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		var logged string // the refusal last logged, to log each once
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			changed, sum, err := k.reload()
			switch {
			case changed:
				logged = ""
				log.Info("API_KEYS_FILE changed: keys reloaded", "keys", k.Len())
			case err != nil:
				if key := string(sum[:]) + err.Error(); key != logged {
					logged = key
					// The message never holds a key: ParseEntries redacts them.
					log.Error("API_KEYS_FILE changed but cannot be used; the previous keys stay", "error", err)
				}
			default:
				logged = "" // back to the keys in use
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}
