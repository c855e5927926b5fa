package keep

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"donjon.dev/config"
	"donjon.dev/tee"
)

func nilAttestation(t *testing.T, module [32]byte, now func() time.Time) (*Attestation, AttestOptions) {
	t.Helper()
	platform, err := tee.Open(context.Background(), tee.Nil, tee.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := AttestOptions{Platform: platform, Module: module, Now: now, Names: []string{"localhost", "127.0.0.1"}}
	att, err := Attest(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return att, opts
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestRenewSchedule(t *testing.T) {
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	if got := renewAfter(from, from.Add(3*time.Hour)); !got.Equal(from.Add(2 * time.Hour)) {
		t.Errorf("renewAfter of a 3h certificate: %v, want 2h in", got.Sub(from))
	}
	for left, want := range map[time.Duration]time.Duration{
		time.Second:    5 * time.Second,
		time.Minute:    6 * time.Second,
		time.Hour:      5 * time.Minute,
		-time.Hour:     5 * time.Second,
		80 * time.Hour: 5 * time.Minute,
	} {
		if got := retryDelay(left); got != want {
			t.Errorf("retryDelay(%v) = %v, want %v", left, got, want)
		}
	}
}

// TestCredentialsRenew: a certificate due for renewal is replaced, for the
// same key, and new handshakes get the new one.
func TestCredentialsRenew(t *testing.T) {
	var calls atomic.Int32
	now := func() time.Time {
		if calls.Add(1) == 1 {
			// The first certificate is already two thirds through its life.
			return time.Now().Add(-SelfSignedValidity * 3 / 4)
		}
		return time.Now()
	}
	att, opts := nilAttestation(t, [32]byte{1}, now)
	creds := newCredentials(quiet, att, opts)
	first, _ := creds.serverCertificate(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { creds.renew(ctx); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, _ := creds.serverCertificate(nil)
		if cur != first {
			if cur.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 || !cur.Leaf.NotAfter.After(first.Leaf.NotAfter) {
				t.Errorf("renewed certificate: serial %x until %v; old %x until %v", cur.Leaf.SerialNumber, cur.Leaf.NotAfter, first.Leaf.SerialNumber, first.Leaf.NotAfter)
			}
			if string(cur.Leaf.RawSubjectPublicKeyInfo) != string(first.Leaf.RawSubjectPublicKeyInfo) {
				t.Error("the renewed certificate is for another key")
			}
			if strings.Join(cur.Leaf.DNSNames, ",") != "localhost" || len(cur.Leaf.IPAddresses) != 1 {
				t.Errorf("the renewed certificate lost its names: %v %v", cur.Leaf.DNSNames, cur.Leaf.IPAddresses)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the certificate was not renewed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestKeepPeerCheck(t *testing.T) {
	self, opts := nilAttestation(t, [32]byte{1}, nil)
	creds := newCredentials(quiet, self, opts)
	peerModule := [32]byte{2}
	peer, _ := nilAttestation(t, peerModule, nil)
	chain := peer.Chain

	tests := []struct {
		name string
		peer config.Peer
		want string // "" accepts
	}{
		{"allowed workload", config.Peer{Keep: true, AllowInsecure: true, Modules: [][32]byte{peerModule}}, ""},
		{"any workload", config.Peer{Keep: true, AllowInsecure: true}, ""},
		{"other workload", config.Peer{Keep: true, AllowInsecure: true, Modules: [][32]byte{{3}}}, "workload.modules"},
		{"other config", config.Peer{Keep: true, AllowInsecure: true, Configs: [][32]byte{{3}}}, "workload.configs"},
		{"nil backend without allow_insecure", config.Peer{Keep: true}, "nil backend"},
	}
	for _, tt := range tests {
		check, err := creds.keepPeerCheck(tt.peer)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		err = check(chain)
		if tt.want == "" && err != nil {
			t.Errorf("%s: refused: %v", tt.name, err)
		}
		if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
	check, _ := creds.keepPeerCheck(config.Peer{Keep: true, AllowInsecure: true})
	if err := check(nil); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("no certificate: %v", err)
	}
	// A chain that is not one self-signed keep certificate needs a CA.
	if err := check([]*x509.Certificate{chain[0], chain[0]}); err == nil {
		t.Error("a chain of two copies of a self-signed certificate was accepted")
	}

	// "steward" means nothing to a keep without one.
	_, err := creds.clientTLS(FD{Kind: FDConnect, Host: "h", Port: 1, Peer: config.Peer{CA: config.CASteward}})
	if err == nil || !strings.Contains(err.Error(), "no steward") {
		t.Errorf(`ca = "steward" on a self-signed keep: %v`, err)
	}
	if _, err := creds.serverTLS(FD{Kind: FDListen, Peer: config.Peer{CA: "not PEM"}}); err == nil {
		t.Error("a listen socket accepted a CA that is not PEM")
	}
}
