package keep

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"donjon.dev/attest/policy"
	"donjon.dev/steward"
	"donjon.dev/tee"
)

// testSteward serves a real steward on loopback that certifies nil keeps
// and, given a secret, releases sealing keys.
func testSteward(t *testing.T, secret []byte) string {
	t.Helper()
	dir := t.TempDir()
	pol, err := policy.Parse([]byte("platforms = [\"nil\"]\n[workload]\nany_module = true\n"), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := steward.LoadOrCreateCA(dir, "keep test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lg, err := steward.OpenLog(context.Background(), filepath.Join(dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	s, err := steward.New(steward.Config{CA: ca, Policy: pol, Log: lg, SealingSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// keepKeys attests a keep of module with a backend that derives no
// sealing key (as TDX) and returns where its sealing keys come from.
func keepKeys(t *testing.T, stewardURL string, module [32]byte) keySource {
	t.Helper()
	opts := AttestOptions{Platform: tee.NilPlatform{}, Module: module, Steward: stewardURL}
	att, err := Attest(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return sealingKeys(opts, att)
}

// TestSealingKeysFromSteward: where the backend has no sealing key, the
// steward that certified the keep releases one: the same for every keep
// of the workload, another for another workload or purpose.
func TestSealingKeysFromSteward(t *testing.T) {
	ctx := context.Background()
	secret := make([]byte, steward.SealingSecretSize)
	rand.Read(secret)
	url := testSteward(t, secret)
	modA, modB := Digest([]byte("a")), Digest([]byte("b"))
	keysA1, keysA2, keysB := keepKeys(t, url, modA), keepKeys(t, url, modA), keepKeys(t, url, modB)

	k1, err := keysA1(ctx, SealingPurpose(modA, "/data"))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := keysA2(ctx, SealingPurpose(modA, "/data"))
	if err != nil || !bytes.Equal(k1, k2) || len(k1) != tee.SealingKeySize {
		t.Fatalf("two keeps of one workload: %x %x %v", k1, k2, err)
	}
	kPath, _ := keysA1(ctx, SealingPurpose(modA, "/logs"))
	kMod, _ := keysB(ctx, SealingPurpose(modA, "/data"))
	if kPath == nil || kMod == nil || bytes.Equal(kPath, k1) || bytes.Equal(kMod, k1) {
		t.Fatalf("another purpose or module got the same key (or none): %x %x", kPath, kMod)
	}

	// Through the directories: what one keep seals, the next one opens.
	host := t.TempDir()
	p := dirPlan("", FD{Kind: FDDir, HostPath: host, GuestPath: "/data"})
	dirs, err := openDirs(ctx, quiet, p, keysA1, modA)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dirs[0], "f", "released")
	closeAll(dirs)
	dirs, err = openDirs(ctx, quiet, p, keysA2, modA)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(dirs[0], "f"); got != "released" || err != nil {
		t.Fatalf("second keep read %q, %v", got, err)
	}
	closeAll(dirs)

	// A steward restarted with another secret is another key: refused.
	other := make([]byte, steward.SealingSecretSize)
	rand.Read(other)
	if _, err := openDirs(ctx, quiet, p, keepKeys(t, testSteward(t, other), modA), modA); err == nil || !strings.Contains(err.Error(), "wrong key") {
		t.Fatalf("another steward's key: %v", err)
	}
}

func TestSealingKeysWithoutRelease(t *testing.T) {
	ctx := context.Background()
	// A self-signed keep has no steward to ask: the backend's reason stands.
	opts := AttestOptions{Platform: tee.NilPlatform{}, Module: Digest(nil)}
	att, err := Attest(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealingKeys(opts, att)(ctx, "p"); !errors.Is(err, tee.ErrNoSealingKey) {
		t.Fatalf("self-signed keep: %v", err)
	}
	// A steward without a sealing secret releases nothing, and says so.
	_, err = keepKeys(t, testSteward(t, nil), Digest(nil))(ctx, "p")
	if !errors.Is(err, tee.ErrNoSealingKey) || !strings.Contains(err.Error(), "the steward released none") {
		t.Fatalf("steward without a secret: %v", err)
	}
}

// TestStewardKeys: each platform has one source of sealing keys.
func TestStewardKeys(t *testing.T) {
	for _, tc := range []struct {
		platform tee.Platform
		want     bool
	}{
		{tee.NewTDX(nil), true},
		{tee.NilPlatform{}, true},
		{tee.NilPlatform{DevKeyFile: "/k"}, false},
		{tee.NewSNP(nil), false},
	} {
		if got := stewardKeys(tc.platform); got != tc.want {
			t.Errorf("%s %+v: steward keys %v, want %v", tc.platform.Name(), tc.platform, got, tc.want)
		}
	}
}
