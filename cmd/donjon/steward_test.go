package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"donjon.dev/identity"
	"donjon.dev/internal/testguest"
	"donjon.dev/steward"
	"donjon.dev/steward/stewardclient"
	"donjon.dev/tee"
)

// runningSteward is `donjon steward serve` started by a test.
type runningSteward struct {
	url      string
	stateDir string
	cmd      *exec.Cmd
	stderr   *bytes.Buffer
}

func serveSteward(t *testing.T, policyText string) *runningSteward {
	t.Helper()
	return serveStewardIn(t, policyText, t.TempDir())
}

// serveStewardIn starts a steward on the state directory given, so that a
// test can restart it.
func serveStewardIn(t *testing.T, policyText, state string) *runningSteward {
	t.Helper()
	pol := writeTemp(t, "policy.toml", []byte(policyText))
	cmd := exec.Command(donjonBin, "steward", "serve", "--policy", pol, "--state-dir", state, "--listen", "127.0.0.1:0", "--kds-url", "none")
	cmd.Env = []string{"HOME=" + t.TempDir()}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		url, found := strings.CutPrefix(line, "donjon steward: serving ")
		if !ok || !found {
			t.Fatalf("steward printed %q first; stderr:\n%s", line, stderr.String())
		}
		return &runningSteward{url: url, stateDir: state, cmd: cmd, stderr: &stderr}
	case <-time.After(30 * time.Second):
		t.Fatalf("steward did not start; stderr:\n%s", stderr.String())
	}
	return nil
}

func TestStewardServeCertifiesKeeps(t *testing.T) {
	hello := testguest.Build(t, "examples/hello-c")
	dev := serveSteward(t, "platforms = [\"nil\"]\n[workload]\nany_module = true\n")
	strict := serveSteward(t, "platforms = [\"snp\", \"tdx\"]\n[workload]\nany_module = true\n")

	r := donjon(t, "", nil, "-v", "run", "--backend", "nil", "--steward", dev.url, hello)
	if r.code != 0 || !strings.Contains(r.stdout, "Hello") {
		t.Fatalf("keep certified by a development steward: %v", r)
	}
	if !strings.Contains(r.stderr, "certified by") {
		t.Errorf("the keep's log does not say it was certified:\n%s", r.stderr)
	}

	r = donjon(t, "", nil, "run", "--backend", "nil", "--steward", strict.url, hello)
	if r.code != exitDonjon || r.stdout != "" {
		t.Fatalf("keep refused by the steward ran anyway: %v", r)
	}
	if !strings.Contains(r.stderr, "refused the keep (403): insecure:") {
		t.Errorf("refusal does not say why:\n%s", r.stderr)
	}

	// SIGTERM: the steward stops cleanly and its log holds the one
	// certificate it issued.
	if err := dev.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := dev.cmd.Wait(); err != nil {
		t.Fatalf("steward after SIGTERM: %v\n%s", err, dev.stderr.String())
	}
	lg, err := steward.OpenLog(context.Background(), filepath.Join(dev.stateDir, steward.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	if n, err := lg.Count(context.Background()); err != nil || n != 1 {
		t.Fatalf("issuance log holds %d certificates (%v), want 1", n, err)
	}
	info, err := os.Stat(filepath.Join(dev.stateDir, steward.CAKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v, mode %v", err, info.Mode())
	}
	if !strings.Contains(dev.stderr.String(), "certificate issued") || !strings.Contains(strict.stderr.String(), "rule=insecure") {
		t.Errorf("steward logs lack the decisions:\n%s\n%s", dev.stderr.String(), strict.stderr.String())
	}
}

// The steward keeps its sealing secret in the state directory: a restart
// releases the same keys; a lost secret is replaced, loudly.
func TestStewardServeSealingKeys(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir()
	policyText := "platforms = [\"nil\"]\n[workload]\nany_module = true\n"
	id, err := identity.New(ctx, tee.NilPlatform{}, sha256.Sum256([]byte("module")), sha256.Sum256([]byte("config")))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := id.CSR()
	if err != nil {
		t.Fatal(err)
	}
	stop := func(s *runningSteward) {
		t.Helper()
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := s.cmd.Wait(); err != nil {
			t.Fatalf("steward after SIGTERM: %v\n%s", err, s.stderr.String())
		}
	}

	first := serveStewardIn(t, policyText, state)
	chain, err := stewardclient.Request(ctx, nil, first.url, csr)
	if err != nil {
		t.Fatal(err)
	}
	key, err := stewardclient.SealingKey(ctx, nil, first.url, chain[0], chain[1], id.Signer(), "/data")
	if err != nil || len(key) != 32 {
		t.Fatalf("sealing key: %x, %v", key, err)
	}
	stop(first)
	secretFile := filepath.Join(state, steward.SealingSecretFile)
	info, err := os.Stat(secretFile)
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != 32 {
		t.Fatalf("sealing secret: %v, mode %v, %d bytes", err, info.Mode(), info.Size())
	}
	if logs := first.stderr.String(); !strings.Contains(logs, "generated a sealing secret") || !strings.Contains(logs, "sealing key released") || strings.Contains(logs, "level=WARN") {
		t.Errorf("first start's log:\n%s", logs)
	}

	again := serveStewardIn(t, policyText, state)
	got, err := stewardclient.SealingKey(ctx, nil, again.url, chain[0], chain[1], id.Signer(), "/data")
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("after a restart: %x, %v; want the same key", got, err)
	}
	stop(again)
	if logs := again.stderr.String(); strings.Contains(logs, "generated a sealing secret") || strings.Contains(logs, "level=WARN") {
		t.Errorf("restart's log:\n%s", logs)
	}

	if err := os.Remove(secretFile); err != nil {
		t.Fatal(err)
	}
	lost := serveStewardIn(t, policyText, state)
	got, err = stewardclient.SealingKey(ctx, nil, lost.url, chain[0], chain[1], id.Signer(), "/data")
	if err != nil || bytes.Equal(got, key) {
		t.Fatalf("with a new secret: %x, %v; want another key", got, err)
	}
	stop(lost)
	if logs := lost.stderr.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "earlier_releases=2") {
		t.Errorf("a lost sealing secret is not warned about:\n%s", logs)
	}
}

func TestStewardServeUsage(t *testing.T) {
	r := donjon(t, "", nil, "steward", "serve")
	if r.code != 2 || !strings.Contains(r.stderr, "--policy FILE is required") {
		t.Fatalf("serve without a policy: %v", r)
	}
	bad := writeTemp(t, "policy.toml", []byte("platforms = [\"snp\"]\n[workload]\nmodule = [\"ab\"]\n"))
	r = donjon(t, "", nil, "steward", "serve", "--policy", bad, "--state-dir", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "policy.toml:3:1") {
		t.Fatalf("serve with a broken policy: %v", r)
	}
}

func TestRunOnMissingHardware(t *testing.T) {
	hello := testguest.Build(t, "examples/hello-c")
	for _, b := range []string{"snp", "tdx"} {
		r := donjon(t, "", nil, "run", "--backend", b, hello)
		if r.code != exitDonjon || r.stdout != "" || !strings.Contains(r.stderr, "unavailable") {
			t.Errorf("--backend %s on a machine without it: %v", b, r)
		}
	}
	r := donjon(t, "", nil, "run", "--backend", "sgx", hello)
	if r.code != exitDonjon || !strings.Contains(r.stderr, "not implemented") {
		t.Errorf("--backend sgx: %v", r)
	}
}

// The config digest a keep binds covers what the command line changes.
func TestConfigDigestCoversCommandLine(t *testing.T) {
	cfg, err := loadConfig(writeTemp(t, "Donjon.toml", []byte("args = [\"a\"]\n")))
	if err != nil {
		t.Fatal(err)
	}
	plain := configDigest(cfg, &runFlags{}, nil)
	if plain != cfg.Digest() {
		t.Fatal("without overrides the digest is not the file's SHA-256")
	}
	seen := map[[32]byte]string{plain: "nothing"}
	for name, tc := range map[string]struct {
		f    runFlags
		args []string
	}{
		"extra argument": {args: []string{"b"}},
		"env":            {f: runFlags{env: []string{"A=1"}}},
		"other env":      {f: runFlags{env: []string{"A=2"}}},
		"dir":            {f: runFlags{dirs: []string{"/tmp:/data"}}},
		"plain dir":      {f: runFlags{plainDirs: []string{"/tmp:/data"}}},
		"memory":         {f: runFlags{memory: "64MiB"}},
		"timeout":        {f: runFlags{timeout: time.Second}},
	} {
		d := configDigest(cfg, &tc.f, tc.args)
		if prev, dup := seen[d]; dup {
			t.Errorf("%s gives the same config digest as %s", name, prev)
		}
		seen[d] = name
	}
}
