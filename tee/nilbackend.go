package tee

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// NilPlatform is the development backend. It isolates nothing and attests
// nothing: its evidence is only the report data, signed by no one.
type NilPlatform struct {
	// DevKeyFile holds the INSECURE development sealing secret (at least
	// 32 random bytes, e.g. `head -c 32 /dev/urandom > dev.key; chmod 600
	// dev.key`). Anyone who can read the file can unseal everything sealed
	// with it. Empty means the nil backend has no sealing key.
	DevKeyFile string
}

// Name implements Platform.
func (NilPlatform) Name() Backend { return Nil }

// Evidence implements Platform: the evidence carries the report data and
// nothing else, so a verifier can only mark it insecure.
func (NilPlatform) Evidence(ctx context.Context, reportData [ReportDataSize]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nil evidence: %w", err)
	}
	return &Evidence{Format: FormatNil, ReportData: reportData}, nil
}

// Sizes accepted for the development key file.
const (
	minDevKeySize = 32
	maxDevKeySize = 4096
)

// nilSealingLabel separates development keys from any other use of the
// secret; "insecure" is in it so the label itself says what these keys are.
const nilSealingLabel = "donjon nil backend INSECURE development sealing key v1: "

// SealingKey implements Platform with a key derived (HKDF-SHA256) from the
// development key file. It protects nothing against whoever runs the host.
func (p NilPlatform) SealingKey(ctx context.Context, purpose string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nil sealing key: %w", err)
	}
	if p.DevKeyFile == "" {
		return nil, fmt.Errorf("%w: the nil backend has no development key file configured: create one with `head -c 32 /dev/urandom > FILE && chmod 600 FILE` and configure it (development only)", ErrNoSealingKey)
	}
	secret, err := readDevKey(p.DevKeyFile)
	if err != nil {
		return nil, err
	}
	key, err := hkdf.Key(sha256.New, secret, nil, nilSealingLabel+purpose, SealingKeySize)
	if err != nil {
		return nil, fmt.Errorf("nil sealing key: derive: %w", err)
	}
	return key, nil
}

func readDevKey(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: nil backend development key: %w", ErrNoSealingKey, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: nil backend development key: %w", ErrNoSealingKey, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: nil backend development key %s is not a regular file", ErrNoSealingKey, name)
	}
	// Refusing readable-by-others files keeps a development habit from
	// leaking keys on shared machines.
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: nil backend development key %s has mode %04o, readable by others: chmod 600 it", ErrNoSealingKey, name, perm)
	}
	secret, err := io.ReadAll(io.LimitReader(f, maxDevKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: nil backend development key: read %s: %w", ErrNoSealingKey, name, err)
	}
	if len(secret) < minDevKeySize || len(secret) > maxDevKeySize {
		return nil, fmt.Errorf("%w: nil backend development key %s must hold %d to %d bytes, has %d: recreate it with `head -c 32 /dev/urandom > %s`", ErrNoSealingKey, name, minDevKeySize, maxDevKeySize, len(secret), name)
	}
	return secret, nil
}

// DevKeyFileName is where donjon keeps the nil backend's development
// sealing secret by default, under the user's configuration directory.
const DevKeyFileName = "donjon/nil-dev-sealing.key"

// CreateDevKeyFile makes sure name holds a development sealing secret for
// the nil backend: it writes 32 random bytes (mode 0600, its directory
// 0700) unless the file exists, and tells whether it did. An existing file
// is left as it is, to be checked when a key is derived from it.
func CreateDevKeyFile(name string) (created bool, err error) {
	if _, err := os.Lstat(name); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("nil backend development key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return false, fmt.Errorf("nil backend development key: %w", err)
	}
	secret := make([]byte, minDevKeySize)
	rand.Read(secret)
	// Written aside, then linked into place: a donjon starting at the same
	// moment sees no file or a whole one, and only one link wins.
	f, err := os.CreateTemp(filepath.Dir(name), ".dev-key-*")
	if err != nil {
		return false, fmt.Errorf("nil backend development key: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(secret)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("nil backend development key: write %s: %w", f.Name(), err)
	}
	if err := os.Link(f.Name(), name); errors.Is(err, fs.ErrExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("nil backend development key: %w", err)
	}
	return true, nil
}
