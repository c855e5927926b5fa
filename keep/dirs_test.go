package keep

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"donjon.dev/sealfs"
	"donjon.dev/tee"
	"donjon.dev/wasi/vfs"
)

func devKeyFile(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "dev.key")
	if err := os.WriteFile(name, []byte(rand.Text()+rand.Text()), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func dirPlan(devKey string, fds ...FD) *Plan {
	return &Plan{ModuleName: "app.wasm", MemoryLimitPages: 16, Backend: "nil", DevKeyFile: devKey, FDs: fds}
}

func writeFile(t *testing.T, d vfs.Dir, name, content string) {
	t.Helper()
	n, err := d.Open(name, vfs.OpenWrite|vfs.OpenCreate|vfs.OpenTruncate)
	if err != nil {
		t.Fatal(err)
	}
	f := n.(vfs.File)
	if _, err := f.Writev([][]byte{[]byte(content)}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(d vfs.Dir, name string) (string, error) {
	n, err := d.Open(name, vfs.OpenRead)
	if err != nil {
		return "", err
	}
	defer n.Close()
	b := make([]byte, 4096)
	k, err := n.(vfs.File).Preadv([][]byte{b}, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	return string(b[:k]), nil
}

// TestOpenDirs: a sealed directory reopens for the same module and guest
// path, and for no other; a plain one is host files; a failure leaves
// nothing open.
func TestOpenDirs(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	key := devKeyFile(t)
	platform := tee.NilPlatform{DevKeyFile: key}
	sealed, plain := t.TempDir(), t.TempDir()
	modA, modB := Digest([]byte("module a")), Digest([]byte("module b"))
	p := dirPlan(key,
		FD{Kind: FDStdout},
		FD{Kind: FDDir, HostPath: sealed, GuestPath: "/data"},
		FD{Kind: FDDir, HostPath: plain, GuestPath: "/plain", Plaintext: true},
	)
	if !p.Sealed() || !p.Plaintext() {
		t.Fatalf("Sealed %v, Plaintext %v: want both", p.Sealed(), p.Plaintext())
	}
	dirs, err := openDirs(ctx, log, p, platform.SealingKey, modA)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 || dirs[0] != nil {
		t.Fatalf("dirs by fd: %v", dirs)
	}
	writeFile(t, dirs[1], "secret.txt", "the sealed words")
	writeFile(t, dirs[2], "open.txt", "the plain words")
	closeAll(dirs)

	if b, err := os.ReadFile(filepath.Join(plain, "open.txt")); err != nil || string(b) != "the plain words" {
		t.Fatalf("plain dir on the host: %q %v", b, err)
	}
	filepath.Walk(sealed, func(path string, info os.FileInfo, err error) error {
		if strings.Contains(path, "secret") {
			t.Errorf("a host name shows the guest's: %s", path)
		}
		if info != nil && info.Mode().IsRegular() {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("sealed words")) {
				t.Errorf("%s holds the plaintext", path)
			}
		}
		return nil
	})

	// Same module, same path: the data is back.
	dirs, err = openDirs(ctx, log, p, platform.SealingKey, modA)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(dirs[1], "secret.txt"); err != nil || got != "the sealed words" {
		t.Fatalf("after reopening: %q %v", got, err)
	}
	closeAll(dirs)

	for name, tc := range map[string]struct {
		p      *Plan
		module [32]byte
		pf     tee.Platform
	}{
		"another module":     {p, modB, platform},
		"another guest path": {dirPlan(key, FD{Kind: FDDir, HostPath: sealed, GuestPath: "/other"}), modA, platform},
		"another dev key":    {p, modA, tee.NilPlatform{DevKeyFile: devKeyFile(t)}},
	} {
		_, err := openDirs(ctx, log, tc.p, tc.pf.SealingKey, tc.module)
		if err == nil || !strings.Contains(err.Error(), "wrong key for the sealed directory "+sealed) || !strings.Contains(err.Error(), "development key than") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The plain dir opened before the failing sealed one was closed: the
	// sealed one's lock is free for the next open.
	bad := dirPlan(key,
		FD{Kind: FDDir, HostPath: sealed, GuestPath: "/data"},
		FD{Kind: FDDir, HostPath: sealed, GuestPath: "/data2"},
	)
	if _, err := openDirs(ctx, log, bad, platform.SealingKey, modA); err == nil {
		t.Fatal("one sealed directory opened twice: no error")
	}
	dirs, err = openDirs(ctx, log, p, platform.SealingKey, modA)
	if err != nil {
		t.Fatalf("after a failed open: %v", err)
	}
	closeAll(dirs)
}

func TestOpenDirsWithoutSealingKey(t *testing.T) {
	p := dirPlan("", FD{Kind: FDDir, HostPath: t.TempDir(), GuestPath: "/data"})
	_, err := openDirs(context.Background(), slog.New(slog.DiscardHandler), p, tee.NilPlatform{}.SealingKey, Digest(nil))
	if err == nil || !strings.Contains(err.Error(), "cannot seal the directory") || !strings.Contains(err.Error(), "plain = true or --plain-dir") {
		t.Fatalf("no sealing key: %v", err)
	}
}

func TestSealingPurpose(t *testing.T) {
	a := SealingPurpose(Digest([]byte("m")), "/data")
	for _, other := range []string{SealingPurpose(Digest([]byte("n")), "/data"), SealingPurpose(Digest([]byte("m")), "/data2")} {
		if other == a {
			t.Errorf("two workloads or paths share purpose %q", a)
		}
	}
}

// TestOpenDirsRefusesPlainFiles: a host directory that already holds files
// is never taken over as a sealed one; the error says how to keep using
// them, and they are left as they were.
func TestOpenDirsRefusesPlainFiles(t *testing.T) {
	host := t.TempDir()
	existing := filepath.Join(host, "existing.txt")
	os.WriteFile(existing, []byte("mine"), 0o600)
	key := devKeyFile(t)
	p := dirPlan(key, FD{Kind: FDDir, HostPath: host, GuestPath: "/data"})
	_, err := openDirs(context.Background(), quiet, p, tee.NilPlatform{DevKeyFile: key}.SealingKey, Digest(nil))
	if !errors.Is(err, sealfs.ErrNotSealed) || !strings.Contains(err.Error(), "plain = true or --plain-dir") {
		t.Fatalf("a plain directory with files: %v", err)
	}
	if ents, _ := os.ReadDir(host); len(ents) != 1 {
		t.Errorf("the directory was changed: %v", ents)
	}
	if b, _ := os.ReadFile(existing); string(b) != "mine" {
		t.Errorf("the file was changed: %q", b)
	}
}
