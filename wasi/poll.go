//go:build linux

package wasi

import (
	"context"
	"io"
	"math"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/vfs"
)

// Readiness comes in three kinds:
//   - always ready: regular files, directories, Null, sealed files;
//   - a host descriptor (vfs.HostPollable: pipes, terminals), waited for
//     with ppoll(2);
//   - decided in Go (vfs.Notifier: TLS sockets), which wake the System
//     through an eventfd when it may have changed.
// Every wait is one ppoll over the host descriptors and that eventfd, with
// the earliest clock deadline as timeout: nothing spins.

func pollEvents(write bool) int16 {
	if write {
		return unix.POLLOUT
	}
	return unix.POLLIN
}

// awaitHost waits until e's host descriptor is ready, or fails with EAGAIN
// at once if nonblock, or with ctx's error.
func (s *System) awaitHost(ctx context.Context, e *entry, write, nonblock bool) error {
	pfds := append(s.pollfds[:0],
		unix.PollFd{Fd: int32(s.wake), Events: unix.POLLIN},
		unix.PollFd{Fd: int32(e.pollfd), Events: pollEvents(write)})
	s.pollfds = pfds
	n, err := ppoll(pfds[1:], &unix.Timespec{})
	if err != nil || n > 0 {
		return err
	}
	if nonblock {
		return syscall.EAGAIN
	}
	for pfds[1].Revents == 0 {
		if err := s.block(ctx, pfds, nil); err != nil {
			return err
		}
	}
	return nil
}

// wakeOnly is a poll set of the wake eventfd alone.
func (s *System) wakeOnly() []unix.PollFd {
	s.pollfds = append(s.pollfds[:0], unix.PollFd{Fd: int32(s.wake), Events: unix.POLLIN})
	return s.pollfds
}

// block waits in ppoll until one of pfds has an event, timeout passes (nil:
// no timeout), or the System is woken up. pfds[0] is the wake eventfd. It
// returns ctx's error once ctx has ended.
func (s *System) block(ctx context.Context, pfds []unix.PollFd, timeout *unix.Timespec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, s.wakeup)
		defer stop()
	}
	for i := range pfds {
		pfds[i].Revents = 0
	}
	if _, err := ppoll(pfds, timeout); err != nil {
		return err
	}
	if pfds[0].Revents != 0 {
		var b [8]byte
		unix.Read(s.wake, b[:]) // reset the eventfd
	}
	return ctx.Err()
}

func (s *System) stopNotifiers() {
	for i, stop := range s.stops {
		stop()
		s.stops[i] = nil
	}
	s.stops = s.stops[:0]
}

// ppoll is unix.Ppoll, for which an interruption by a signal is a return
// with nothing ready.
func ppoll(pfds []unix.PollFd, timeout *unix.Timespec) (int, error) {
	n, err := unix.Ppoll(pfds, timeout, nil)
	if err == unix.EINTR {
		return 0, nil
	}
	return n, err
}

// subscription is one decoded subscription of poll_oneoff and, once
// evaluated, its event.
type subscription struct {
	userdata uint64
	kind     uint8 // eventtype
	deadline int64 // clock: monotonic nanoseconds
	e        *entry
	pfd      int // index in pollfds, or -1

	ready  bool
	err    errno
	nbytes uint64
	hangup bool
}

func (s *System) pollOneoff(ctx context.Context, m guestMem, inPtr, outPtr, nsubs, neventsPtr uint32) errno {
	if nsubs == 0 {
		return errnoInval // there would be nothing to wait for, ever
	}
	if nsubs > maxSubscriptions {
		return errnoInval
	}
	in, ok := m.array(inPtr, nsubs, subscriptionSize)
	if !ok {
		return errnoFault
	}
	out, ok := m.array(outPtr, nsubs, eventSize)
	if !ok {
		return errnoFault
	}
	nevents, ok := m.view(neventsPtr, 4)
	if !ok {
		return errnoFault
	}
	subs, errno := s.decodeSubscriptions(in, nsubs)
	if errno != errnoSuccess {
		return errno
	}
	defer s.releaseSubscriptions(subs)

	for {
		now := s.monotonic()
		deadline := int64(math.MaxInt64)
		ready := false
		pfds := append(s.pollfds[:0], unix.PollFd{Fd: int32(s.wake), Events: unix.POLLIN})
		for i := range subs {
			sub := &subs[i]
			switch {
			case sub.ready:
			case sub.kind == eventClock:
				if now >= sub.deadline {
					sub.ready = true
				} else {
					deadline = min(deadline, sub.deadline)
				}
			case sub.e.pollfd >= 0:
				sub.pfd = len(pfds)
				pfds = append(pfds, unix.PollFd{Fd: int32(sub.e.pollfd), Events: pollEvents(sub.kind == eventFdWrite)})
			case sub.e.notifier != nil:
				sub.ready = sub.e.notifier.Ready(sub.kind == eventFdWrite)
			default:
				sub.ready = true
				sub.nbytes = readable(sub)
			}
			ready = ready || sub.ready
		}
		s.pollfds = pfds

		if ready {
			// Something is ready: only look at the host descriptors too.
			if len(pfds) > 1 {
				if _, err := ppoll(pfds[1:], &unix.Timespec{}); err != nil {
					return errnoOf(err)
				}
				collect(subs, pfds)
			}
			break
		}

		s.waits++
		for i := range subs {
			sub := &subs[i]
			if sub.kind == eventClock || sub.e.pollfd >= 0 || sub.e.notifier == nil {
				continue
			}
			if sub.e.notified != s.waits { // once per descriptor
				sub.e.notified = s.waits
				s.stops = append(s.stops, sub.e.notifier.Notify(s.wakeup))
			}
			// Readiness may have changed before Notify took effect.
			if sub.e.notifier.Ready(sub.kind == eventFdWrite) {
				sub.ready, ready = true, true
			}
		}
		var err error
		if !ready {
			var timeout *unix.Timespec
			if deadline != math.MaxInt64 {
				ts := unix.NsecToTimespec(deadline - now)
				timeout = &ts
			}
			err = s.block(ctx, pfds, timeout)
			if err == nil {
				collect(subs, pfds)
			}
		}
		s.stopNotifiers()
		if err != nil {
			return errnoOf(err) // ERRNO_CANCELED once ctx has ended
		}
		// Loop: clocks and Go-decided readiness are checked again, and
		// if nothing is ready (woken for nothing) we wait again.
	}

	n := uint32(0)
	for i := range subs {
		sub := &subs[i]
		if !sub.ready {
			continue
		}
		ev := out[n*eventSize : (n+1)*eventSize]
		clear(ev)
		le.PutUint64(ev[0:], sub.userdata)
		le.PutUint16(ev[8:], uint16(sub.err))
		ev[10] = sub.kind
		if sub.kind != eventClock && sub.err == errnoSuccess {
			le.PutUint64(ev[16:], sub.nbytes)
			if sub.hangup {
				le.PutUint16(ev[24:], eventrwHangup)
			}
		}
		n++
	}
	le.PutUint32(nevents, n)
	return errnoSuccess
}

// decodeSubscriptions reads the subscriptions. Problems with one
// subscription (a closed descriptor, a clock we do not have) become an
// event with an error, ready at once; a malformed one fails the call.
func (s *System) decodeSubscriptions(in []byte, nsubs uint32) ([]subscription, errno) {
	now := s.monotonic()
	subs := s.subs[:0]
	for i := uint32(0); i < nsubs; i++ {
		r := in[i*subscriptionSize : (i+1)*subscriptionSize]
		sub := subscription{userdata: le.Uint64(r[0:]), kind: r[8], pfd: -1}
		switch sub.kind {
		case eventClock:
			id, timeout, flags := le.Uint32(r[16:]), le.Uint64(r[24:]), le.Uint16(r[40:])
			sub.deadline, sub.err = clockDeadline(now, id, timeout, flags)
		case eventFdRead, eventFdWrite:
			// POLL_FD_READWRITE is not required: readiness reveals
			// nothing, and the read or write that follows checks its own
			// right.
			e, errno := s.lookup(le.Uint32(r[16:]))
			if errno != errnoSuccess {
				sub.err = errno
			} else {
				sub.e = e
			}
		default:
			s.subs = subs
			return nil, errnoInval
		}
		sub.ready = sub.err != errnoSuccess
		subs = append(subs, sub)
	}
	s.subs = subs
	return subs, errnoSuccess
}

func (s *System) releaseSubscriptions(subs []subscription) {
	clear(subs) // drop references to entries
}

// clockDeadline turns a clock subscription into a monotonic deadline.
// Absolute realtime deadlines are converted once: a realtime clock change
// during the wait is not seen.
func clockDeadline(now int64, id uint32, timeout uint64, flags uint16) (int64, errno) {
	if flags&^subclockAbstime != 0 {
		return 0, errnoInval
	}
	abs := flags&subclockAbstime != 0
	t := int64(min(timeout, math.MaxInt64))
	switch id {
	case clockMonotonic:
		if abs {
			return t, errnoSuccess
		}
		return addSat(now, t), errnoSuccess
	case clockRealtime:
		if abs {
			return addSat(now, t-time.Now().UnixNano()), errnoSuccess
		}
		return addSat(now, t), errnoSuccess
	case clockProcessCPUTime, clockThreadCPUTime:
		return 0, errnoNotsup // one cannot sleep until a CPU time
	}
	return 0, errnoInval
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// collect records the host descriptors' events in their subscriptions.
func collect(subs []subscription, pfds []unix.PollFd) {
	for i := range subs {
		sub := &subs[i]
		if sub.pfd < 0 || sub.ready {
			continue
		}
		re := pfds[sub.pfd].Revents
		switch {
		case re&unix.POLLNVAL != 0:
			sub.ready, sub.err = true, errnoBadf
		case re != 0:
			// POLLERR and POLLHUP are ready too: the next call reports
			// the error or the end.
			sub.ready = true
			sub.hangup = re&unix.POLLHUP != 0
			if sub.kind == eventFdRead {
				if n, err := unix.IoctlGetInt(sub.e.pollfd, unix.TIOCINQ); err == nil && n > 0 {
					sub.nbytes = uint64(n)
				}
			}
		}
	}
}

// readable is the nbytes of an always-ready subscription: what is left to
// read in a regular file, 0 when unknown.
func readable(sub *subscription) uint64 {
	if sub.kind != eventFdRead || sub.e.file == nil || sub.e.ftype != vfs.TypeRegularFile {
		return 0
	}
	st, err := sub.e.file.Stat()
	if err != nil {
		return 0
	}
	pos, err := sub.e.file.Seek(0, io.SeekCurrent)
	if err != nil || pos < 0 || uint64(pos) >= st.Size {
		return 0
	}
	return st.Size - uint64(pos)
}
