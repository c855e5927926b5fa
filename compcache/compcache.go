// Package compcache keeps an engine's compiled code between runs without
// trusting the disk it lives on.
//
// Compiled machine code is executed as is, so a cache entry that someone
// altered on disk would run their code inside the keep. Every entry is
// therefore a bundle of the files the engine wrote for one module, sealed
// with HMAC-SHA256 under a key the host disk does not hold in the clear for
// TEE backends (the nil backend, which protects nothing, keeps its key in a
// 0600 file beside the cache). An entry is checked in memory and only then
// written into a fresh private directory that the engine reads from.
//
// Entries are content-addressed: the name is a hash of the module digest
// and the engine identity, so a new engine version never reads old code.
package compcache

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	magic = "donjon compiled-code cache v1\n"
	// KeySize is the size of the HMAC key.
	KeySize = 32
	// maxBundle bounds what is read from disk for one entry.
	maxBundle = 1 << 30
	// maxFiles bounds the files in one bundle.
	maxFiles = 1024
)

// ErrTampered reports an entry whose integrity check failed.
var ErrTampered = errors.New("compiled-code cache entry failed its integrity check")

// Cache is a directory of sealed compiled-code bundles.
type Cache struct {
	dir    string
	key    []byte
	engine string
}

// Open returns the cache in dir for code compiled by the engine named
// engineID (name, version, GOOS/GOARCH), sealed with key.
func Open(dir, engineID string, key []byte) (*Cache, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("compcache: key is %d bytes, want %d", len(key), KeySize)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("compcache: %w", err)
	}
	return &Cache{dir: dir, key: bytes.Clone(key), engine: engineID}, nil
}

// LocalKey returns the key kept in file (created with 0600 permissions on
// first use). It is the development key of the nil backend: anyone who can
// read the file can forge entries.
func LocalKey(file string) ([]byte, error) {
	key, err := os.ReadFile(file)
	if err == nil {
		if len(key) != KeySize {
			return nil, fmt.Errorf("compcache: key file %s holds %d bytes, want %d: delete it to make a new one", file, len(key), KeySize)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("compcache: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("compcache: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := writeAtomic(file, key, 0o600); err != nil {
		return nil, fmt.Errorf("compcache: key file: %w", err)
	}
	// Another process may have won the race: use whatever is there now.
	return os.ReadFile(file)
}

func (c *Cache) entryPath(moduleDigest [32]byte) string {
	h := sha256.New()
	h.Write(moduleDigest[:])
	h.Write([]byte(c.engine))
	return filepath.Join(c.dir, hex.EncodeToString(h.Sum(nil)))
}

// Checkout writes the verified files cached for the module into workDir,
// which must be empty and private to the caller. It reports whether there
// was an entry. A tampered or malformed entry is deleted and reported as
// an error wrapping ErrTampered; workDir is then left empty so the caller
// can compile afresh.
//
// The entry is read once, in chunks copied into private memory: each chunk
// is fed to the MAC and written out from that same copy, so what lands in
// workDir is exactly what was authenticated, and the files count only if
// the tag at the end matches.
func (c *Cache) Checkout(moduleDigest [32]byte, workDir string) (bool, error) {
	path := c.entryPath(moduleDigest)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("compcache: %w", err)
	}
	defer f.Close()
	err = c.extract(f, moduleDigest, workDir)
	if err == nil {
		return true, nil
	}
	if cleanErr := emptyDir(workDir); cleanErr != nil {
		return false, fmt.Errorf("compcache: %w", cleanErr)
	}
	if errors.Is(err, ErrTampered) {
		_ = os.Remove(path)
	}
	return false, fmt.Errorf("compcache: %s: %w", path, err)
}

func (c *Cache) extract(f *os.File, moduleDigest [32]byte, workDir string) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size > maxBundle || size < int64(len(magic)+4+sha256.Size) {
		return fmt.Errorf("%w: bad size %d", ErrTampered, size)
	}
	m := c.newMAC(moduleDigest)
	body := &io.LimitedReader{R: f, N: size - sha256.Size}
	r := bufio.NewReaderSize(io.TeeReader(body, m), 1<<20)

	head := make([]byte, len(magic)+4)
	if _, err := io.ReadFull(r, head); err != nil {
		return fmt.Errorf("%w: truncated", ErrTampered)
	}
	if string(head[:len(magic)]) != magic {
		return fmt.Errorf("%w: bad header", ErrTampered)
	}
	n := binary.BigEndian.Uint32(head[len(magic):])
	if n > maxFiles {
		return fmt.Errorf("%w: %d files", ErrTampered, n)
	}
	var lens [8]byte
	for range n {
		if _, err := io.ReadFull(r, lens[:4]); err != nil {
			return fmt.Errorf("%w: truncated", ErrTampered)
		}
		nl := binary.BigEndian.Uint32(lens[:4])
		if nl > 4096 {
			return fmt.Errorf("%w: file name of %d bytes", ErrTampered, nl)
		}
		name := make([]byte, nl)
		if _, err := io.ReadFull(r, name); err != nil {
			return fmt.Errorf("%w: truncated", ErrTampered)
		}
		if !filepath.IsLocal(filepath.FromSlash(string(name))) {
			return fmt.Errorf("%w: file name %q", ErrTampered, name)
		}
		if _, err := io.ReadFull(r, lens[:]); err != nil {
			return fmt.Errorf("%w: truncated", ErrTampered)
		}
		dl := binary.BigEndian.Uint64(lens[:])
		if dl > maxBundle {
			return fmt.Errorf("%w: file of %d bytes", ErrTampered, dl)
		}
		if err := writeFrom(filepath.Join(workDir, filepath.FromSlash(string(name))), r, int64(dl)); err != nil {
			return err
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: trailing bytes", ErrTampered)
	}
	tag := make([]byte, sha256.Size+1)
	if k, _ := io.ReadFull(f, tag); k != sha256.Size || !hmac.Equal(tag[:k], m.Sum(nil)) {
		return ErrTampered
	}
	return nil
}

// writeFrom creates name and copies exactly n bytes from r into it.
func writeFrom(name string, r io.Reader, n int64) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTampered, err)
	}
	if _, err := io.CopyN(out, r, n); err != nil {
		out.Close()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: truncated", ErrTampered)
		}
		return err
	}
	return out.Close()
}

// emptyDir removes everything inside dir, keeping dir itself.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Commit seals every regular file under workDir into the module's entry,
// replacing any previous one atomically.
func (c *Cache) Commit(moduleDigest [32]byte, workDir string) error {
	var files []file
	err := filepath.WalkDir(workDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".tmp") {
			return err
		}
		rel, err := filepath.Rel(workDir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, file{name: filepath.ToSlash(rel), data: data})
		return nil
	})
	if err != nil {
		return fmt.Errorf("compcache: %w", err)
	}
	if len(files) == 0 {
		return nil
	}
	return writeAtomic(c.entryPath(moduleDigest), c.seal(moduleDigest, files), 0o600)
}

type file struct {
	name string
	data []byte
}

// seal encodes files as: magic, count, then per file a name length, name,
// data length and data, all lengths big-endian; then the HMAC of all that
// bound to the module digest and engine identity.
func (c *Cache) seal(moduleDigest [32]byte, files []file) []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(files))))
	for _, f := range files {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f.name))))
		b.WriteString(f.name)
		b.Write(binary.BigEndian.AppendUint64(nil, uint64(len(f.data))))
		b.Write(f.data)
	}
	b.Write(c.mac(moduleDigest, b.Bytes()))
	return b.Bytes()
}

func (c *Cache) mac(moduleDigest [32]byte, body []byte) []byte {
	m := c.newMAC(moduleDigest)
	m.Write(body)
	return m.Sum(nil)
}

// newMAC returns an HMAC that has absorbed what binds an entry besides its
// body: the module digest and the engine identity.
func (c *Cache) newMAC(moduleDigest [32]byte) hash.Hash {
	m := hmac.New(sha256.New, c.key)
	m.Write(moduleDigest[:])
	m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(c.engine))))
	m.Write([]byte(c.engine))
	return m
}

func writeAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
