// Command client-go is an HTTP client for donjon keeps: it fetches one page
// over the connection its keep opened under the name "server" and prints
// the body.
//
//	client-go [PATH]    PATH defaults to /hello
//
// The keep makes the connection and wraps it in TLS (verifying the server),
// so this program only speaks plain HTTP/1.1 on it. SERVER_HOST sets the
// Host header (default "localhost").
//
//	GOOS=wasip1 GOARCH=wasm go build -o client-go.wasm ./examples/client-go
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// fdName is the name of the connected socket in Donjon.toml.
const fdName = "server"

// timeout bounds the whole exchange, so a silent server cannot hold the
// client forever.
const timeout = 30 * time.Second

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "client-go:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	path := "/hello"
	switch len(args) {
	case 0:
	case 1:
		path = args[0]
	default:
		return fmt.Errorf("too many arguments %q: usage: client-go [PATH], e.g. client-go /hello", args)
	}
	target, err := url.ParseRequestURI(path)
	if err != nil || target.Scheme != "" || target.Host != "" || !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%q is not a path: give one that starts with /, e.g. /hello", path)
	}
	host := os.Getenv("SERVER_HOST")
	if host == "" {
		host = "localhost"
	}

	conn, err := connection()
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("set a deadline on the connection: %w", err)
	}

	req := &http.Request{
		Method:     http.MethodGet,
		URL:        target,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"User-Agent": {"donjon-client-go"}},
		Host:       host,
		Close:      true, // one request per connection: the keep made only one
	}
	if err := req.Write(conn); err != nil {
		return fmt.Errorf("send GET %s: %w", path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fmt.Errorf("read the response to GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The start of the body usually says why; show it, bounded.
		why, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: server answered %s: %s", path, resp.Status, strings.TrimSpace(string(why)))
	}
	if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
		return fmt.Errorf("read the body of GET %s: %w", path, err)
	}
	return nil
}

// connection returns the socket the keep connected as fdName.
func connection() (net.Conn, error) {
	fd, err := fdByName(fdName)
	if err != nil {
		return nil, err
	}
	// Without nonblocking mode the Go runtime would block the guest's only
	// thread in reads; with it, they go through the poller.
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("make fd %d (%q) nonblocking: %w", fd, fdName, err)
	}
	f := os.NewFile(uintptr(fd), fdName)
	defer f.Close() // the connection keeps its own reference to the fd
	conn, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("fd %d (%q) is not a connected socket: %w; give it kind = \"connect\" in Donjon.toml", fd, fdName, err)
	}
	return conn, nil
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
	return 0, fmt.Errorf("no file descriptor named %q in FD_NAMES=%q: add a [[files]] entry with name = %q and kind = \"connect\" to Donjon.toml", name, names, name)
}
