//go:build linux

package tlsnet

import (
	"crypto/tls"
	"io"
	"syscall"
	"testing"
	"time"
)

func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIdleCostsNoCPU: idle connections in every state (accepted, queued,
// handshaking, stalled on a peer that does not read) leave the process
// asleep.
func TestIdleCostsNoCPU(t *testing.T) {
	s := listenTLS(t, Options{BufferSize: 16 << 10})
	var conns []*Conn
	var clients []*tls.Conn
	for range 20 {
		client := s.dial(t)
		io.WriteString(client, "x")
		c := accept(t, s.Listener)
		recvFull(t, c, 1)
		conns = append(conns, c)
		clients = append(clients, client)
	}
	fillUntilStalled(t, conns[0])
	go clients[1].Write(make([]byte, 16<<20)) // the guest reads none of it
	await(t, conns[1], func() error {
		if conns[1].Ready(false) {
			return nil
		}
		return syscall.EAGAIN
	})
	s.dial(t)    // queued
	s.dialRaw(t) // handshaking
	waitFor(t, "both to be pending", func() bool { return s.pendingCount() == 2 })
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	const idle = 500 * time.Millisecond
	before := cpuTime(t)
	time.Sleep(idle)
	if spent := cpuTime(t) - before; spent > idle/5 {
		t.Errorf("%v of CPU over %v of idleness", spent, idle)
	}
}
