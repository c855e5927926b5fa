package config

import (
	"path"
	"strings"
)

// ParseDirFlag parses the value of a --dir HOST[:GUEST] flag into a dir
// entry. GUEST, when given, must be an absolute, clean path. Without it the
// guest path is HOST as written, rooted at the guest's "/" (as wasmtime's
// --dir HOST uses HOST as the guest name): "/srv/data" stays "/srv/data",
// "data" and "./data" become "/data", "." becomes "/". A single ':'
// separates the two (wazero's convention; newer wasmtime uses "::"), so
// paths that contain ':' can only be given in Donjon.toml. plain is the
// entry's plain setting. Errors are *Error values whose File is "--dir".
func ParseDirFlag(s string, plain bool) (File, error) {
	fail := func(msg string) (File, error) {
		return File{}, &Error{File: "--dir", Msg: msg}
	}
	host, guest, hasGuest := strings.Cut(s, ":")
	if strings.Contains(guest, ":") {
		return fail(quote(s) + " has more than one ':': write HOST or HOST:GUEST; put paths that contain ':' in a dir entry of Donjon.toml")
	}
	if host == "" {
		return fail(quote(s) + ` has no host directory: write e.g. --dir data or --dir data:/data`)
	}
	if msg := hostPathProblem("host directory", host); msg != "" {
		return fail(msg)
	}
	if !hasGuest {
		guest = path.Clean("/" + host)
	} else if guest == "" {
		return fail(quote(s) + " has an empty guest path after ':': write e.g. " + quote(host+":/data") + ", or drop the ':'")
	}
	if msg := guestProblem("guest path", guest); msg != "" {
		return fail(msg)
	}
	return File{Kind: KindDir, Name: string(KindDir), HostPath: host, Guest: guest, Plain: plain}, nil
}
