package tee

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestNilEvidence(t *testing.T) {
	var p Platform = NilPlatform{}
	if p.Name() != Nil {
		t.Fatalf("Name() = %q, want %q", p.Name(), Nil)
	}
	want := testReportData(5)
	ev, err := p.Evidence(context.Background(), want)
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	if ev.Format != FormatNil || ev.ReportData != want || len(ev.Report) != 0 || len(ev.CertTable) != 0 {
		t.Fatalf("nil evidence = %+v, want only format nil and the report data", ev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Evidence(ctx, want); !errors.Is(err, context.Canceled) {
		t.Fatalf("Evidence with a canceled context: %v, want context.Canceled", err)
	}
}

func writeKey(t *testing.T, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode passes through the umask; set it exactly.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNilSealingKey(t *testing.T) {
	ctx := context.Background()
	secretA := bytes.Repeat([]byte{0xa5}, 32)
	secretB := bytes.Repeat([]byte{0x5a}, 32)
	a := NilPlatform{DevKeyFile: writeKey(t, "a.key", secretA, 0o600)}
	b := NilPlatform{DevKeyFile: writeKey(t, "b.key", secretB, 0o600)}

	k1, err := a.SealingKey(ctx, "files")
	if err != nil {
		t.Fatalf("SealingKey: %v", err)
	}
	if len(k1) != SealingKeySize {
		t.Fatalf("key is %d bytes, want %d", len(k1), SealingKeySize)
	}
	if bytes.Equal(k1, secretA) {
		t.Fatal("the key is the raw development secret, not a derived key")
	}
	k2, err := a.SealingKey(ctx, "files")
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("same file and purpose gave a different key (err %v)", err)
	}
	other, err := a.SealingKey(ctx, "secrets")
	if err != nil || bytes.Equal(k1, other) {
		t.Fatalf("another purpose gave the same key (err %v)", err)
	}
	kb, err := b.SealingKey(ctx, "files")
	if err != nil || bytes.Equal(k1, kb) {
		t.Fatalf("another development secret gave the same key (err %v)", err)
	}
}

func TestNilSealingKeyErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    func(t *testing.T) string
		wantMsg string
	}{
		{"not configured", func(*testing.T) string { return "" }, "no development key file configured"},
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent.key") }, "no such file"},
		{"readable by others", func(t *testing.T) string {
			return writeKey(t, "open.key", bytes.Repeat([]byte{1}, 32), 0o644)
		}, "readable by others: chmod 600"},
		{"too short", func(t *testing.T) string {
			return writeKey(t, "short.key", []byte("password"), 0o600)
		}, "must hold 32 to 4096 bytes, has 8"},
		{"directory", func(t *testing.T) string { return t.TempDir() }, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := NilPlatform{DevKeyFile: tt.file(t)}.SealingKey(context.Background(), "files")
			if err == nil {
				t.Fatalf("SealingKey returned a %d-byte key, want an error", len(key))
			}
			if !errors.Is(err, ErrNoSealingKey) {
				t.Errorf("error %q does not wrap ErrNoSealingKey", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error %q is not one line saying %q", err, tt.wantMsg)
			}
		})
	}
}

func TestCreateDevKeyFile(t *testing.T) {
	ctx := context.Background()
	name := filepath.Join(t.TempDir(), "cfg", DevKeyFileName)
	// Concurrent first runs agree on one secret.
	var wg sync.WaitGroup
	created := make([]bool, 8)
	for i := range created {
		wg.Go(func() {
			var err error
			if created[i], err = CreateDevKeyFile(name); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := countTrue(created); n != 1 {
		t.Fatalf("%d calls say they created the key, want 1", n)
	}
	info, err := os.Stat(name)
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != minDevKeySize {
		t.Fatalf("key file: %v, %v", info, err)
	}
	if dir, _ := os.Stat(filepath.Dir(name)); dir.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %v, want 0700", dir.Mode().Perm())
	}
	before, err := NilPlatform{DevKeyFile: name}.SealingKey(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := CreateDevKeyFile(name); again || err != nil {
		t.Fatalf("second call: created %v, %v", again, err)
	}
	after, err := NilPlatform{DevKeyFile: name}.SealingKey(ctx, "p")
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the key changed after a second call: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(name), ".dev-key-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// A directory where the file should be is an error when a key is
	// derived, not something CreateDevKeyFile replaces.
	other := filepath.Join(t.TempDir(), "k")
	os.Mkdir(other, 0o700)
	if c, err := CreateDevKeyFile(other); c || err != nil {
		t.Fatalf("existing path: created %v, %v", c, err)
	}
	if _, err := (NilPlatform{DevKeyFile: other}).SealingKey(ctx, "p"); !errors.Is(err, ErrNoSealingKey) {
		t.Fatalf("a directory as key file: %v", err)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
