//go:build linux

package tlsnet

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"donjon.dev/engine"
	"donjon.dev/wasi"
)

// guestMem is a fake guest's linear memory.
type guestMem []byte

func (m guestMem) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m)) {
		return nil, false
	}
	return m[off : off+n : off+n], true
}

func (m guestMem) Size() uint32 { return uint32(len(m)) }

type guestCaller struct{ mem guestMem }

func (c guestCaller) Memory() engine.Memory { return c.mem }
func (c guestCaller) Exit(code uint32)      { panic("guest exit") }

// TestWASIGuest serves a TLS client through package wasi's host functions,
// as a guest would: a blocking sock_accept, poll_oneoff, fd_read, sock_send
// and fd_close on a Listener preopened at fd 3.
func TestWASIGuest(t *testing.T) {
	s := listenTLS(t, Options{})
	sys, err := wasi.New(wasi.Config{Args: []string{"guest"}, FDs: []wasi.FD{wasi.Null(), wasi.Null(), wasi.Null(), wasi.Socket(s.Listener)}})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	funcs := map[string]engine.HostFunc{}
	for _, f := range sys.Module().Funcs {
		funcs[f.Name] = f
	}
	mem := make(guestMem, 1<<16)
	le := binary.LittleEndian
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	call := func(name string, args ...uint64) {
		t.Helper()
		f := funcs[name]
		stack := make([]uint64, max(len(f.Params), len(f.Results)))
		copy(stack, args)
		f.Call(ctx, guestCaller{mem}, stack)
		if stack[0] != 0 {
			t.Fatalf("%s%v: errno %d", name, args, stack[0])
		}
	}

	answer := make(chan string, 1)
	go func() {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: patience}, "tcp", s.addr(), s.clientConfig())
		if err != nil {
			answer <- err.Error()
			return
		}
		defer c.Close()
		io.WriteString(c, "ping")
		b, err := io.ReadAll(c)
		if err != nil {
			answer <- err.Error()
			return
		}
		answer <- string(b)
	}()

	const fdPtr, nPtr, iovPtr, bufPtr, subPtr, evPtr = 0, 8, 16, 1024, 256, 512
	call("sock_accept", 3, 0, fdPtr) // blocks until the handshake is done
	fd := uint64(le.Uint32(mem[fdPtr:]))

	le.PutUint64(mem[subPtr:], 42)            // userdata
	mem[subPtr+8] = 1                         // eventtype fd_read
	le.PutUint32(mem[subPtr+16:], uint32(fd)) // the connection
	call("poll_oneoff", subPtr, evPtr, 1, nPtr)
	if n, ud := le.Uint32(mem[nPtr:]), le.Uint64(mem[evPtr:]); n != 1 || ud != 42 {
		t.Fatalf("poll_oneoff: %d events, userdata %d", n, ud)
	}

	got := ""
	for len(got) < 4 {
		le.PutUint32(mem[iovPtr:], bufPtr)
		le.PutUint32(mem[iovPtr+4:], 64)
		call("fd_read", fd, iovPtr, 1, nPtr)
		n := le.Uint32(mem[nPtr:])
		if n == 0 {
			t.Fatalf("end of stream after %q", got)
		}
		got += string(mem[bufPtr : bufPtr+n])
	}
	if got != "ping" {
		t.Fatalf("the guest read %q", got)
	}
	copy(mem[bufPtr:], "pong")
	le.PutUint32(mem[iovPtr+4:], 4)
	call("sock_send", fd, iovPtr, 1, 0, nPtr)
	if n := le.Uint32(mem[nPtr:]); n != 4 {
		t.Fatalf("sock_send sent %d bytes", n)
	}
	call("fd_close", fd)
	if a := <-answer; a != "pong" {
		t.Errorf("the client received %q, want \"pong\"", a)
	}
}
