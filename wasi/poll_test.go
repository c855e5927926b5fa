//go:build linux

package wasi

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type sub struct {
	userdata uint64
	kind     uint8
	clock    uint32
	timeout  uint64
	flags    uint16
	fd       uint32
}

type event struct {
	userdata uint64
	err      errno
	kind     uint8
	nbytes   uint64
	flags    uint16
}

func clockSub(userdata uint64, id uint32, timeout time.Duration, flags uint16) sub {
	return sub{userdata: userdata, kind: eventClock, clock: id, timeout: uint64(timeout), flags: flags}
}

func fdSub(userdata uint64, kind uint8, fd uint32) sub {
	return sub{userdata: userdata, kind: kind, fd: fd}
}

// poll calls poll_oneoff with subs and returns the events.
func (h *harness) poll(subs ...sub) (errno, []event) {
	h.t.Helper()
	in := h.alloc(uint32(len(subs)) * subscriptionSize)
	for i, s := range subs {
		r := h.mem.b[in+uint32(i)*subscriptionSize:]
		le.PutUint64(r, s.userdata)
		r[8] = s.kind
		if s.kind == eventClock {
			le.PutUint32(r[16:], s.clock)
			le.PutUint64(r[24:], s.timeout)
			le.PutUint16(r[40:], s.flags)
		} else {
			le.PutUint32(r[16:], s.fd)
		}
	}
	out, n := h.alloc(uint32(len(subs))*eventSize), h.alloc(4)
	e := h.call("poll_oneoff", uint64(in), uint64(out), uint64(len(subs)), uint64(n))
	var evs []event
	for i := range h.u32(n) {
		b := h.mem.b[out+i*eventSize:]
		evs = append(evs, event{le.Uint64(b), errno(le.Uint16(b[8:])), b[10], le.Uint64(b[16:]), le.Uint16(b[24:])})
	}
	return e, evs
}

// now is the guest's monotonic clock.
func (h *harness) now() time.Duration {
	p := h.alloc(8)
	h.ok("clock_time_get", uint64(clockMonotonic), 0, uint64(p))
	return time.Duration(h.u64(p))
}

// threadCPU is the CPU time of the calling thread.
func threadCPU(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestPollArguments(t *testing.T) {
	h := newHarness(t)
	out, n := h.alloc(eventSize), h.alloc(4)
	in := h.alloc(subscriptionSize)
	h.want(errnoInval, "poll_oneoff", uint64(in), uint64(out), 0, uint64(n))
	h.want(errnoInval, "poll_oneoff", uint64(in), uint64(out), maxSubscriptions+1, uint64(n))
	h.want(errnoFault, "poll_oneoff", bad, uint64(out), 1, uint64(n))
	h.want(errnoFault, "poll_oneoff", uint64(in), bad, 1, uint64(n))
	h.want(errnoFault, "poll_oneoff", uint64(in), uint64(out), 1, bad)
	h.want(errnoFault, "poll_oneoff", uint64(in), uint64(out), 2000, uint64(n)) // array runs past the end
	h.mem.b[in+8] = 3                                                           // no such event type
	h.want(errnoInval, "poll_oneoff", uint64(in), uint64(out), 1, uint64(n))
}

func TestPollClocks(t *testing.T) {
	h := newHarness(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	const d = 50 * time.Millisecond
	start, cpu := h.now(), threadCPU(t)
	e, evs := h.poll(clockSub(1, clockMonotonic, d, 0))
	waited, spent := h.now()-start, threadCPU(t)-cpu
	if e != errnoSuccess || len(evs) != 1 || evs[0] != (event{userdata: 1, kind: eventClock}) {
		t.Fatalf("relative clock: %v %+v", e, evs)
	}
	if waited < d {
		t.Errorf("a %v timeout fired after %v", d, waited)
	}
	// A busy loop would have burnt the whole wait on this thread.
	if spent > d/2 {
		t.Errorf("waiting %v used %v of CPU", waited, spent)
	}

	deadline := h.now() + 20*time.Millisecond
	e, evs = h.poll(clockSub(2, clockMonotonic, deadline, subclockAbstime), clockSub(3, clockMonotonic, time.Hour, 0))
	if e != errnoSuccess || len(evs) != 1 || evs[0].userdata != 2 {
		t.Fatalf("absolute clock: %v %+v", e, evs)
	}
	if now := h.now(); now < deadline {
		t.Errorf("absolute deadline %v fired at %v", deadline, now)
	}
	// Realtime, absolute: a deadline in the past fires at once.
	e, evs = h.poll(clockSub(4, clockRealtime, time.Duration(time.Now().Add(-time.Second).UnixNano()), subclockAbstime))
	if e != errnoSuccess || len(evs) != 1 || evs[0].userdata != 4 || evs[0].err != errnoSuccess {
		t.Errorf("past realtime deadline: %v %+v", e, evs)
	}
	start = h.now()
	e, evs = h.poll(clockSub(5, clockRealtime, time.Duration(time.Now().Add(20*time.Millisecond).UnixNano()), subclockAbstime))
	if e != errnoSuccess || len(evs) != 1 || h.now()-start < 10*time.Millisecond {
		t.Errorf("realtime deadline 20ms ahead: %v %+v after %v", e, evs, h.now()-start)
	}
	// Clocks one cannot wait on are errors in their events, reported at
	// once; the other subscriptions wait.
	e, evs = h.poll(clockSub(6, 9, time.Second, 0), clockSub(7, clockThreadCPUTime, time.Second, 0),
		clockSub(8, clockMonotonic, time.Second, 4), clockSub(9, clockMonotonic, time.Hour, 0))
	want := []event{{6, errnoInval, eventClock, 0, 0}, {7, errnoNotsup, eventClock, 0, 0}, {8, errnoInval, eventClock, 0, 0}}
	if e != errnoSuccess || len(evs) != 3 || evs[0] != want[0] || evs[1] != want[1] || evs[2] != want[2] {
		t.Errorf("bad clocks: %v %+v", e, evs)
	}
	// Zero timeout: at once.
	if e, evs = h.poll(clockSub(10, clockMonotonic, 0, 0)); e != errnoSuccess || len(evs) != 1 {
		t.Errorf("zero timeout: %v %+v", e, evs)
	}
}

func TestPollPipes(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	h := newHarness(t, Stream(r, true, false), Stream(w, false, true))
	const rfd, wfd = 4, 5
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// Nothing to read: the clock fires, and only it.
	start, cpu := h.now(), threadCPU(t)
	e, evs := h.poll(fdSub(1, eventFdRead, rfd), clockSub(2, clockMonotonic, 30*time.Millisecond, 0))
	if e != errnoSuccess || len(evs) != 1 || evs[0].userdata != 2 || evs[0].kind != eventClock {
		t.Fatalf("empty pipe and clock: %v %+v", e, evs)
	}
	if h.now()-start < 30*time.Millisecond || threadCPU(t)-cpu > 15*time.Millisecond {
		t.Errorf("poll returned after %v using %v of CPU", h.now()-start, threadCPU(t)-cpu)
	}
	// Writable at once; data to read at once, with its size.
	w.Write([]byte("12345"))
	e, evs = h.poll(fdSub(1, eventFdRead, rfd), fdSub(3, eventFdWrite, wfd), clockSub(2, clockMonotonic, time.Hour, 0))
	if e != errnoSuccess || len(evs) != 2 || evs[0] != (event{1, 0, eventFdRead, 5, 0}) || evs[1].userdata != 3 || evs[1].kind != eventFdWrite {
		t.Fatalf("pipe with data: %v %+v", e, evs)
	}
	h.read(rfd, 10)
	// Woken by data written later, without a clock.
	go func() {
		time.Sleep(10 * time.Millisecond)
		w.Write([]byte("x"))
	}()
	e, evs = h.poll(fdSub(1, eventFdRead, rfd))
	if e != errnoSuccess || len(evs) != 1 || evs[0].nbytes != 1 {
		t.Fatalf("waiting for data: %v %+v", e, evs)
	}
	h.read(rfd, 10)
	// The writer goes: a hangup.
	w.Close()
	e, evs = h.poll(fdSub(1, eventFdRead, rfd))
	if e != errnoSuccess || len(evs) != 1 || evs[0].flags != eventrwHangup {
		t.Errorf("hangup: %v %+v", e, evs)
	}
}

func TestPollAlwaysReady(t *testing.T) {
	h := newHarness(t)
	fd := h.open("f", uint32(oflagCreat), rw, 0)
	h.write(fd, "0123456789")
	pos := h.alloc(8)
	h.ok("fd_seek", uint64(fd), 4, uint64(whenceSet), uint64(pos))
	e, evs := h.poll(fdSub(1, eventFdRead, uint32(fd)), fdSub(2, eventFdWrite, uint32(fd)),
		fdSub(3, eventFdRead, 0), fdSub(4, eventFdWrite, 1), fdSub(5, eventFdRead, 3),
		fdSub(6, eventFdRead, 99), clockSub(7, clockMonotonic, time.Hour, 0))
	want := []event{
		{1, 0, eventFdRead, 6, 0}, // bytes left from offset 4
		{2, 0, eventFdWrite, 0, 0},
		{3, 0, eventFdRead, 0, 0},
		{4, 0, eventFdWrite, 0, 0},
		{5, 0, eventFdRead, 0, 0},
		{6, errnoBadf, eventFdRead, 0, 0},
	}
	if e != errnoSuccess || len(evs) != len(want) {
		t.Fatalf("%v %+v", e, evs)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, evs[i], want[i])
		}
	}
	// The file holds no POLL_FD_READWRITE: it is not needed.
	if rights(h.u64(h.fdstat(fd)+8))&rightPollFdReadwrite != 0 {
		t.Error("the file has POLL_FD_READWRITE")
	}
}

func TestPollGoReadiness(t *testing.T) {
	sock := &fakeSocket{}
	h := newHarness(t, Socket(sock))
	go func() {
		time.Sleep(10 * time.Millisecond)
		sock.feed("hello", false)
	}()
	e, evs := h.poll(fdSub(1, eventFdRead, 4))
	if e != errnoSuccess || len(evs) != 1 || evs[0].userdata != 1 || evs[0].err != errnoSuccess {
		t.Fatalf("socket woken from Go: %v %+v", e, evs)
	}
	if e, got := h.read(4, 10); e != errnoSuccess || got != "hello" {
		t.Errorf("read %v %q", e, got)
	}
	// Two subscriptions on one socket: one notification, stopped after.
	go func() {
		time.Sleep(10 * time.Millisecond)
		sock.feed("again", false)
	}()
	e, evs = h.poll(fdSub(1, eventFdRead, 4), fdSub(2, eventFdRead, 4))
	if e != errnoSuccess || len(evs) != 2 {
		t.Fatalf("two subscriptions on one socket: %v %+v", e, evs)
	}
	if sock.armed != 0 || sock.maxArm != 1 {
		t.Errorf("notifications: %d still armed, at most %d at once", sock.armed, sock.maxArm)
	}
	// Writable at once; the clock is not reported.
	e, evs = h.poll(fdSub(2, eventFdWrite, 4), clockSub(3, clockMonotonic, time.Hour, 0))
	if e != errnoSuccess || len(evs) != 1 || evs[0].userdata != 2 {
		t.Errorf("writable socket: %v %+v", e, evs)
	}
}

func TestPollCanceled(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	h := newHarness(t, Stream(r, true, false))
	ctx, cancel := context.WithCancel(context.Background())
	h.ctx = ctx
	go func() {
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	if e, evs := h.poll(fdSub(1, eventFdRead, 4)); e != errnoCanceled {
		t.Errorf("poll when the context ends: %v %+v", e, evs)
	}
	// Already ended: at once.
	if e, _ := h.poll(clockSub(1, clockMonotonic, time.Hour, 0)); e != errnoCanceled {
		t.Errorf("poll with an ended context: %v", e)
	}
}
