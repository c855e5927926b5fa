package tee

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// adviceRE matches the fixes detection suggests.
var adviceRE = regexp.MustCompile(`run donjon|use (the )?(snp|tdx)|modprobe|boot |mount |relaunch|enable `)

// TestOpenOnThisMachine opens every backend on the machine the tests run
// on. Where detection says a hardware backend is unavailable (as on these
// development machines, which have no TEE), Open must fail with
// ErrUnavailable and the same one-line reason and fix.
func TestOpenOnThisMachine(t *testing.T) {
	ctx := context.Background()
	report := Detect(ctx, RealProbe())
	for _, b := range []Backend{SNP, TDX} {
		status, ok := report.Status(b)
		if !ok {
			t.Fatalf("Detect has no verdict for %s", b)
		}
		p, err := Open(ctx, b, OpenOptions{})
		if status.Available {
			if err != nil || p.Name() != b {
				t.Errorf("Open(%s) where detection finds it available: %v", b, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Open(%s) succeeded where detection says: %s", b, status.Details)
			continue
		}
		msg := err.Error()
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(msg, string(b)+": "+status.Details) || strings.ContainsAny(msg, "\n\r") {
			t.Errorf("Open(%s): %q, want one ErrUnavailable line with %q", b, msg, status.Details)
		}
		if !adviceRE.MatchString(msg) {
			t.Errorf("Open(%s): %q says nothing about what to do", b, msg)
		}
	}
}

func TestOpenNilAndSGX(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "dev.key")
	if err := os.WriteFile(keyFile, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Open(ctx, Nil, OpenOptions{DevKeyFile: keyFile})
	if err != nil {
		t.Fatalf("Open(nil): %v", err)
	}
	if np, ok := p.(NilPlatform); !ok || np.DevKeyFile != keyFile {
		t.Fatalf("Open(nil) = %#v, want NilPlatform with the key file", p)
	}
	if _, err := p.SealingKey(ctx, "files"); err != nil {
		t.Fatalf("nil SealingKey with the configured key file: %v", err)
	}

	if _, err := Open(ctx, SGX, OpenOptions{}); !errors.Is(err, ErrNotImplemented) || !strings.Contains(err.Error(), "not implemented") {
		t.Fatalf("Open(sgx): %v, want ErrNotImplemented", err)
	}
	if _, err := Open(ctx, Backend("kvm"), OpenOptions{}); err == nil || !strings.Contains(err.Error(), `unknown backend "kvm"`) {
		t.Fatalf("Open(kvm): %v, want unknown backend", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Open(canceled, Nil, OpenOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a canceled context: %v", err)
	}
}

// TestOpenChoosesInterface runs Open's choice on the fake machines of the
// detection tests, with openers that record which interface was opened.
func TestOpenChoosesInterface(t *testing.T) {
	snpTSM, snpDev, tdx := NewSNP(nil), NewSNPDevice(nil), NewTDX(nil)
	tests := []struct {
		name    string
		machine fstest.MapFS
		backend Backend
		want    Platform // nil: ErrUnavailable
		wantMsg string
	}{
		{"snp over configfs-tsm", snpGuestTSM, SNP, snpTSM, ""},
		{"snp over configfs-tsm, no entry yet", snpGuestTSMNoEntry, SNP, snpTSM, ""},
		{"snp on an old kernel", snpGuestOldKernel, SNP, snpDev, ""},
		{"snp with configfs unmounted", snpGuestConfigfsUnmounted, SNP, snpDev, ""},
		{"snp without the driver", snpGuestNoDriver, SNP, nil, "modprobe sev-guest"},
		{"snp on a TDX guest", tdxGuest, SNP, nil, "use the tdx backend"},
		{"snp on this plain VM", plainVM, SNP, nil, "run donjon in a VM launched with SEV-SNP"},
		{"tdx", tdxGuest, TDX, tdx, ""},
		{"tdx without configfs-tsm", tdxGuestNoTSM, TDX, nil, "quotes need configfs-tsm"},
		{"tdx on an SNP guest", snpGuestTSM, TDX, nil, "use the snp backend"},
		{"tdx on a host", tdxHost, TDX, nil, "this is a TDX host, not a guest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opened []string
			open := openers{
				snpTSM:    func() (*SNPPlatform, error) { opened = append(opened, "snp tsm"); return snpTSM, nil },
				snpDevice: func() (*SNPPlatform, error) { opened = append(opened, "snp device"); return snpDev, nil },
				tdx:       func() (*TDXPlatform, error) { opened = append(opened, "tdx"); return tdx, nil },
			}
			p, err := openWith(context.Background(), tt.backend, OpenOptions{}, FSProbe{FS: tt.machine}, open)
			if tt.want != nil {
				if err != nil || p != tt.want || len(opened) != 1 {
					t.Fatalf("openWith = %v, %v after opening %q; want the platform from one opener", p, err, opened)
				}
				return
			}
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("openWith: %v, want ErrUnavailable saying %q", err, tt.wantMsg)
			}
			if len(opened) != 0 {
				t.Fatalf("opened %q on a machine without the backend", opened)
			}
		})
	}
}

func TestOpenReturnsOpenerError(t *testing.T) {
	failure := errors.New("configfs went away")
	open := openers{snpTSM: func() (*SNPPlatform, error) { return nil, failure }}
	p, err := openWith(context.Background(), SNP, OpenOptions{}, FSProbe{FS: snpGuestTSM}, open)
	// A nil *SNPPlatform inside a Platform would be a non-nil interface.
	if !errors.Is(err, failure) || p != nil {
		t.Fatalf("openWith = %#v, %v; want a nil Platform and the opener's error", p, err)
	}
}
