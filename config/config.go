// Package config parses and validates a workload's Donjon.toml.
//
// Donjon.toml uses Enarx.toml's schema (steward, args, [env], [[files]]) plus
// donjon's additions (dir entries in [[files]], [limits]), so an Enarx.toml is
// read by the same parser. docs/config.md is the reference for every key.
//
// The package only reads bytes: finding, reading and acting on the file is
// the caller's job.
package config

import (
	"crypto/sha256"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Conventional file names.
const (
	FileName      = "Donjon.toml"
	EnarxFileName = "Enarx.toml"
)

// MaxSize is the largest config file Parse accepts. Real files are a few
// hundred bytes; the bound keeps hostile input cheap to reject.
const MaxSize = 1 << 20

// MaxKeys bounds the keys in one table of a config (each part of a dotted
// key counts; array elements do not). The TOML decoder's duplicate check
// costs the square of the keys in a table, so a hostile file of many keys
// is refused before decoding; real configs have a few dozen.
const MaxKeys = 4096

// Kind is what a [[files]] entry opens as a file descriptor.
type Kind string

// The kinds of [[files]] entries. KindDir is donjon's; the others are Enarx's.
const (
	KindNull    Kind = "null"
	KindStdin   Kind = "stdin"
	KindStdout  Kind = "stdout"
	KindStderr  Kind = "stderr"
	KindListen  Kind = "listen"
	KindConnect Kind = "connect"
	KindDir     Kind = "dir"
)

// kinds lists every Kind in the order documentation and messages use.
var kinds = []string{"null", "stdin", "stdout", "stderr", "listen", "connect", "dir"}

// Prot is the protocol of a listen or connect socket.
type Prot string

// Socket protocols. TLS is the default: a keep's sockets speak TLS with its
// attested certificate unless the config says otherwise.
const (
	ProtTLS Prot = "tls"
	ProtTCP Prot = "tcp"
)

// Config is a parsed and validated Donjon.toml.
type Config struct {
	// Steward is the attestation service URL; "" means none (the keep
	// self-signs its certificate and carries its evidence in it).
	Steward string
	// Args is argv[1:]; the runtime sets argv[0] to the module's file name.
	Args []string
	// Env is the guest's environment, sorted by name.
	Env []EnvVar
	// Files is the guest's file descriptor table: Files[i] is fd i.
	Files []File
	// Limits caps the guest's resources.
	Limits Limits
	// TLS is the keep's certificate: the names it is valid for.
	TLS TLS

	source string // file name, for messages
	raw    []byte // the bytes parsed, for the config digest
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string
	Value string
}

// File is one [[files]] entry. Only the fields of its Kind are set.
type File struct {
	Kind Kind
	// Name goes into FD_NAMES. Parse sets it to the kind when the file
	// does not name the entry; "" in a File built in code means the same.
	Name string

	// Addr is the local address a listen socket binds to.
	Addr netip.Addr
	// Port is the listen port, or the port a connect socket dials.
	Port uint16
	// Prot is the protocol of a listen or connect socket.
	Prot Prot
	// Host is the host name or IP address a connect socket dials.
	Host string
	// Peer is how a TLS listen or connect socket authenticates the other
	// end.
	Peer Peer

	// HostPath is the directory on the host that a dir entry opens (the
	// TOML key "host"), as written: relative paths are relative to the
	// working directory of the process that runs the keep.
	HostPath string
	// Guest is the absolute, clean path the guest sees the directory at.
	Guest string
	// Plain leaves the directory's contents unencrypted on the host.
	Plain bool
}

// Trust anchors a socket's Peer.CA can name besides PEM text.
const (
	// CASystem is the host's root certificates (connect only): for peers
	// with certificates from public CAs.
	CASystem = "system"
	// CASteward is the CA of the steward that certified this keep.
	CASteward = "steward"
)

// Peer says how a TLS socket authenticates the other end: the server a
// connect socket dials, or the clients of a listen socket.
type Peer struct {
	// CA is the peer's trust anchors: CASystem, CASteward or PEM text of
	// one or more CA certificates. "" means the default: for connect, the
	// system roots (the steward's CA with Keep); for listen, no client
	// certificate is asked for (the steward's CA with Keep). It is the TOML
	// key "ca" of a connect entry and "client_ca" of a listen entry.
	CA string
	// Keep requires the peer to be an attested keep (require = "keep"):
	// its certificate carries claims or evidence verified like `donjon
	// verify` does, and its workload must match Modules and Configs.
	Keep bool
	// Modules and Configs, when not empty, list the workload digests a
	// keep peer may have (peer_modules, peer_configs).
	Modules, Configs [][32]byte
	// AllowInsecure accepts keep peers on the nil backend, which protects
	// nothing: for development only.
	AllowInsecure bool
}

// Authenticated tells whether the socket checks its peer's certificate: a
// connect socket always does over TLS; a listen socket when it asks its
// clients for one.
func (p Peer) Authenticated(k Kind) bool {
	return k == KindConnect || p.CA != "" || p.Keep
}

// TLS is the [tls] table: the keep's certificate.
type TLS struct {
	// Names are the DNS names and IP addresses the keep's certificate is
	// issued for, so that ordinary TLS clients (browsers, curl) accept it
	// under those names. A steward certifies only names its policy lists.
	Names []string
}

// FDName is the entry's name in FD_NAMES.
func (f File) FDName() string {
	if f.Name == "" {
		return string(f.Kind)
	}
	return f.Name
}

// Limits caps a guest's resources. Zero values mean "not set".
type Limits struct {
	// Memory is the most linear memory the guest may have, in bytes: a
	// whole number of 64 KiB wasm pages. 0 leaves the runtime's default.
	Memory uint64
	// Timeout is how long the guest may run; 0 means no limit.
	Timeout time.Duration
}

// MemoryPages is the memory limit in 64 KiB wasm pages; 0 when not set.
func (l Limits) MemoryPages() uint32 {
	return uint32(l.Memory / PageSize)
}

// Default is the config of a workload without a Donjon.toml: stdin, stdout
// and stderr, and nothing else. Its digest is the digest of empty bytes,
// since an empty Donjon.toml means exactly this.
func Default() *Config {
	return &Config{Files: defaultFiles()}
}

func defaultFiles() []File {
	return []File{
		{Kind: KindStdin, Name: string(KindStdin)},
		{Kind: KindStdout, Name: string(KindStdout)},
		{Kind: KindStderr, Name: string(KindStderr)},
	}
}

// Source is the file name the config was parsed from ("" for Default).
func (c *Config) Source() string { return c.source }

// Raw returns a copy of the bytes the config was parsed from.
func (c *Config) Raw() []byte { return slices.Clone(c.raw) }

// Digest is the SHA-256 of the raw config bytes: the config digest a keep's
// evidence binds, next to the module digest.
func (c *Config) Digest() [sha256.Size]byte { return sha256.Sum256(c.raw) }

// FDEnv returns FD_COUNT (the number of entries in Files) and FD_NAMES
// (their names joined by ':'), the variables Enarx guests read to find
// their file descriptors.
func (c *Config) FDEnv() []EnvVar {
	names := make([]string, len(c.Files))
	for i, f := range c.Files {
		names[i] = f.FDName()
	}
	return []EnvVar{
		{Name: "FD_COUNT", Value: strconv.Itoa(len(c.Files))},
		{Name: "FD_NAMES", Value: strings.Join(names, ":")},
	}
}

// Environ is the guest's whole environment as NAME=VALUE strings, sorted by
// name: Env plus FD_COUNT and FD_NAMES.
func (c *Config) Environ() []string {
	vars := append(slices.Clone(c.Env), c.FDEnv()...)
	slices.SortStableFunc(vars, func(a, b EnvVar) int { return strings.Compare(a.Name, b.Name) })
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.Name + "=" + v.Value
	}
	return out
}
