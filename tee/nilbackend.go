package tee

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
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
