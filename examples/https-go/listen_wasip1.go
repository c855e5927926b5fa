//go:build wasip1

package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

// fdName is the name of the listening socket in Donjon.toml.
const fdName = "https"

// listen returns the listening socket the keep preopened as fdName. The
// keep terminates TLS on it, so connections arrive as plain HTTP.
func listen(args []string) (net.Listener, string, error) {
	if len(args) > 0 {
		return nil, "", fmt.Errorf("unexpected arguments %q: in a keep, https-go takes none (its socket comes from Donjon.toml)", args)
	}
	fd, err := fdByName(fdName)
	if err != nil {
		return nil, "", err
	}
	// Without nonblocking mode the Go runtime would block the guest's only
	// thread in sock_accept; with it, accept goes through the poller.
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil, "", fmt.Errorf("make fd %d (%q) nonblocking: %w", fd, fdName, err)
	}
	f := os.NewFile(uintptr(fd), fdName)
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, "", fmt.Errorf("fd %d (%q) is not a listening socket: %w; give it kind = \"listen\" in Donjon.toml", fd, fdName, err)
	}
	f.Close() // the listener keeps its own reference to the fd
	return ln, fmt.Sprintf("fd %d (%q, TLS by the keep)", fd, fdName), nil
}

// fdByName finds a file descriptor by its name in FD_NAMES, which the keep
// sets to the names of its [[files]] entries joined by ':' (fd i is the
// i-th name).
func fdByName(name string) (int, error) {
	names := os.Getenv("FD_NAMES")
	for i, n := range strings.Split(names, ":") {
		if n == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no file descriptor named %q in FD_NAMES=%q: add a [[files]] entry with name = %q and kind = \"listen\" to Donjon.toml", name, names, name)
}
