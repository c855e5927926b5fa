// Package keep runs one workload: it ties a wasm module, its WASI world,
// the engine and its limits together, and supervises the guest from a
// separate process so that a guest that computes forever cannot stall
// donjon (wazero cannot preempt compiled code).
package keep

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"donjon.dev/config"
	"donjon.dev/tee"
)

// FDKind is what a guest file descriptor is backed by.
type FDKind string

// The descriptor kinds a keep can hand its guest.
const (
	FDNull   FDKind = "null"
	FDStdin  FDKind = "stdin"
	FDStdout FDKind = "stdout"
	FDStderr FDKind = "stderr"
	FDDir    FDKind = "dir"
	// FDListen is a socket listening on Addr:Port; FDConnect a socket
	// connected to Host:Port before the guest starts.
	FDListen  FDKind = "listen"
	FDConnect FDKind = "connect"
)

// FD describes one guest file descriptor; fd i is Plan.FDs[i].
type FD struct {
	Kind FDKind `json:"kind"`
	Name string `json:"name,omitempty"`
	// HostPath and GuestPath apply to directories. HostPath is absolute.
	HostPath  string `json:"host,omitempty"`
	GuestPath string `json:"guest,omitempty"`

	// Addr is the IP address a listen socket binds; Host the host a
	// connect socket dials; Port applies to both.
	Addr string `json:"addr,omitempty"`
	Host string `json:"connect_host,omitempty"`
	Port uint16 `json:"port,omitempty"`
	// Plaintext makes a socket plain TCP (prot = "tcp"), and a directory
	// plain host files (plain = true). Otherwise sockets are TLS with the
	// keep's certificate and directories are sealed (package sealfs).
	Plaintext bool `json:"plaintext,omitempty"`
	// Peer is how a TLS socket authenticates the other end.
	Peer config.Peer `json:"peer"`
}

// Plan is everything a keep needs to run a workload, resolved: paths are
// absolute, the environment is final. It crosses from the supervisor to
// the keep process as JSON.
type Plan struct {
	// ModuleName is the module's file name: the guest's argv[0].
	ModuleName string `json:"module_name"`
	// Args are argv[1:].
	Args []string `json:"args"`
	// Env is the guest's whole environment, KEY=VALUE.
	Env []string `json:"env"`
	FDs []FD     `json:"fds"`
	// MemoryLimitPages caps linear memory, in 64 KiB pages.
	MemoryLimitPages uint32 `json:"memory_limit_pages"`
	// Timeout is the wall-clock limit; zero means none.
	Timeout time.Duration `json:"timeout"`
	// CacheDir holds compiled code between runs; empty disables the cache.
	CacheDir string `json:"cache_dir,omitempty"`
	// CompileWorkers is the compiler's parallelism; zero means one per CPU.
	CompileWorkers int `json:"compile_workers,omitempty"`
	// Debug makes the keep process log its steps on stderr.
	Debug bool `json:"debug,omitempty"`
	// Backend is the TEE backend the keep runs on ("nil", "snp", "tdx").
	Backend string `json:"backend"`
	// Steward is the attestation service's URL; empty means the keep
	// self-signs its certificate.
	Steward string `json:"steward,omitempty"`
	// ConfigDigest is the SHA-256 of the workload's Donjon.toml, bound into
	// the keep's evidence with the module digest.
	ConfigDigest [32]byte `json:"config_digest"`
	// TLSNames are the DNS names and IP addresses the keep's certificate is
	// for (the config's [tls] names).
	TLSNames []string `json:"tls_names,omitempty"`
	// DevKeyFile is the nil backend's INSECURE development sealing secret
	// (tee.NilPlatform.DevKeyFile), needed when it seals a directory.
	DevKeyFile string `json:"dev_key_file,omitempty"`
}

// DefaultMemoryLimitPages is the memory cap when none is configured: 1 GiB.
const DefaultMemoryLimitPages = 16384

// MaxModuleSize bounds the modules donjon loads: 256 MiB.
const MaxModuleSize = 256 << 20

// Validate checks a plan before any process is started.
func (p *Plan) Validate() error {
	if p.ModuleName == "" {
		return errors.New("plan: module name is empty")
	}
	if p.MemoryLimitPages == 0 || p.MemoryLimitPages > 65536 {
		return fmt.Errorf("plan: memory limit of %d pages is out of range 1..65536", p.MemoryLimitPages)
	}
	if _, err := tee.ParseBackend(p.Backend); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if p.Timeout < 0 {
		return fmt.Errorf("plan: negative timeout %v", p.Timeout)
	}
	for i, fd := range p.FDs {
		switch fd.Kind {
		case FDNull, FDStdin, FDStdout, FDStderr:
		case FDDir:
			if fd.HostPath == "" || fd.GuestPath == "" {
				return fmt.Errorf("plan: fd %d: a directory needs a host and a guest path", i)
			}
		case FDListen:
			if _, err := netip.ParseAddr(fd.Addr); err != nil {
				return fmt.Errorf("plan: fd %d: listen address: %w", i, err)
			}
		case FDConnect:
			if fd.Host == "" || fd.Port == 0 {
				return fmt.Errorf("plan: fd %d: a connect socket needs a host and a port", i)
			}
		default:
			return fmt.Errorf("plan: fd %d: kind %q is not supported by this keep", i, fd.Kind)
		}
	}
	return nil
}

// Plaintext tells whether the workload has a channel the keep does not
// protect: a plain TCP socket, or a directory kept as plain host files.
func (p *Plan) Plaintext() bool {
	for _, fd := range p.FDs {
		if fd.Plaintext {
			return true
		}
	}
	return false
}

// Sealed tells whether the plan has a sealed directory.
func (p *Plan) Sealed() bool {
	for _, fd := range p.FDs {
		if fd.Kind == FDDir && !fd.Plaintext {
			return true
		}
	}
	return false
}

// Digest is the SHA-256 digest of a module: its identity.
func Digest(wasm []byte) [32]byte { return sha256.Sum256(wasm) }
