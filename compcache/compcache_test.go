package compcache

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func newCache(t *testing.T, engineID string, key byte) *Cache {
	t.Helper()
	c, err := Open(filepath.Join(t.TempDir(), "cache"), engineID, bytes.Repeat([]byte{key}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

var sample = map[string]string{
	"wazero-v1-amd64-linux/aa": "machine code one",
	"wazero-v1-amd64-linux/bb": "machine code two",
}

func TestRoundTrip(t *testing.T) {
	c := newCache(t, "engine 1", 1)
	digest := sha256.Sum256([]byte("module"))
	if ok, err := c.Checkout(digest, t.TempDir()); ok || err != nil {
		t.Fatalf("empty cache: Checkout = %v, %v", ok, err)
	}
	src := t.TempDir()
	writeFiles(t, src, sample)
	if err := c.Commit(digest, src); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	ok, err := c.Checkout(digest, dst)
	if !ok || err != nil {
		t.Fatalf("Checkout = %v, %v", ok, err)
	}
	for name, want := range sample {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	// Another module has its own entry.
	if ok, _ := c.Checkout(sha256.Sum256([]byte("other")), t.TempDir()); ok {
		t.Error("a different module digest found an entry")
	}
}

// Every single-byte change to an entry on disk is detected, the entry is
// removed, and nothing is written to the work directory.
func TestEveryByteFlipDetected(t *testing.T) {
	c := newCache(t, "engine 1", 1)
	digest := sha256.Sum256([]byte("module"))
	src := t.TempDir()
	writeFiles(t, src, sample)
	if err := c.Commit(digest, src); err != nil {
		t.Fatal(err)
	}
	path := c.entryPath(digest)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		dst := t.TempDir()
		ok, err := c.Checkout(digest, dst)
		if ok || !errors.Is(err, ErrTampered) {
			t.Fatalf("byte %d flipped: Checkout = %v, %v", i, ok, err)
		}
		if entries, _ := os.ReadDir(dst); len(entries) != 0 {
			t.Fatalf("byte %d flipped: %d files written", i, len(entries))
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("byte %d flipped: tampered entry not removed", i)
		}
	}
	// Truncation and extension too.
	for _, bad := range [][]byte{good[:len(good)-1], append(bytes.Clone(good), 0), nil} {
		os.WriteFile(path, bad, 0o600)
		if ok, err := c.Checkout(digest, t.TempDir()); ok || !errors.Is(err, ErrTampered) {
			t.Fatalf("resized entry: Checkout = %v, %v", ok, err)
		}
	}
}

// An entry is bound to its key, its engine and its module.
func TestEntryBinding(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	key := bytes.Repeat([]byte{1}, KeySize)
	a, _ := Open(dir, "engine 1", key)
	digest := sha256.Sum256([]byte("module"))
	src := t.TempDir()
	writeFiles(t, src, sample)
	if err := a.Commit(digest, src); err != nil {
		t.Fatal(err)
	}
	entry, _ := os.ReadFile(a.entryPath(digest))

	otherKey, _ := Open(dir, "engine 1", bytes.Repeat([]byte{2}, KeySize))
	if ok, err := otherKey.Checkout(digest, t.TempDir()); ok || !errors.Is(err, ErrTampered) {
		t.Errorf("other key: Checkout = %v, %v", ok, err)
	}
	// Planting module A's entry under module B's name is detected.
	os.WriteFile(a.entryPath(digest), entry, 0o600)
	other := sha256.Sum256([]byte("other module"))
	os.WriteFile(a.entryPath(other), entry, 0o600)
	if ok, err := a.Checkout(other, t.TempDir()); ok || !errors.Is(err, ErrTampered) {
		t.Errorf("swapped entry: Checkout = %v, %v", ok, err)
	}
	// The same bytes under another engine's name are detected too.
	otherEngine, _ := Open(dir, "engine 2", key)
	os.WriteFile(otherEngine.entryPath(digest), entry, 0o600)
	if ok, err := otherEngine.Checkout(digest, t.TempDir()); ok || !errors.Is(err, ErrTampered) {
		t.Errorf("other engine: Checkout = %v, %v", ok, err)
	}
}

// Even a correctly sealed entry cannot name a file outside the work dir.
func TestNamesStayInside(t *testing.T) {
	c := newCache(t, "engine 1", 1)
	digest := sha256.Sum256([]byte("module"))
	for _, name := range []string{"../escape", "/etc/passwd", "a/../../b", ""} {
		bundle := c.seal(digest, []file{{name: name, data: []byte("x")}})
		if err := os.WriteFile(c.entryPath(digest), bundle, 0o600); err != nil {
			t.Fatal(err)
		}
		work := filepath.Join(t.TempDir(), "work")
		os.Mkdir(work, 0o700)
		if ok, err := c.Checkout(digest, work); ok || !errors.Is(err, ErrTampered) {
			t.Errorf("name %q: Checkout = %v, %v", name, ok, err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(work), "escape")); err == nil {
			t.Errorf("name %q: a file was written outside the work directory", name)
		}
	}
}

func TestLocalKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "key")
	k1, err := LocalKey(file)
	if err != nil || len(k1) != KeySize {
		t.Fatalf("LocalKey = %x, %v", k1, err)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v", st.Mode(), err)
	}
	k2, _ := LocalKey(file)
	if !bytes.Equal(k1, k2) {
		t.Error("key changed between calls")
	}
	os.WriteFile(file, []byte("short"), 0o600)
	if _, err := LocalKey(file); err == nil {
		t.Error("a short key file was accepted")
	}
}

// FuzzCheckout reads arbitrary entries, sealed or not: it never panics,
// and writes nothing unless it reports a hit.
func FuzzCheckout(f *testing.F) {
	c, _ := Open(f.TempDir(), "engine", bytes.Repeat([]byte{1}, KeySize))
	digest := sha256.Sum256([]byte("module"))
	f.Add(c.seal(digest, []file{{name: "a/b", data: []byte("code")}}), false)
	f.Add([]byte(magic), true)
	f.Fuzz(func(t *testing.T, data []byte, sealIt bool) {
		if sealIt {
			// A valid tag over arbitrary content exercises the decoder.
			data = append(bytes.Clone(data), c.mac(digest, data)...)
		}
		if err := os.WriteFile(c.entryPath(digest), data, 0o600); err != nil {
			t.Fatal(err)
		}
		work := t.TempDir()
		ok, err := c.Checkout(digest, work)
		if ok != (err == nil) {
			t.Fatalf("Checkout = %v, %v", ok, err)
		}
		if entries, _ := os.ReadDir(work); !ok && len(entries) != 0 {
			t.Fatalf("a failed Checkout left %d entries", len(entries))
		}
	})
}
