//go:build linux

package wasi

import (
	"io"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// stringsGet serves args_get and environ_get: the pointer array at ptrs,
// the strings at buf.
func stringsGet(m guestMem, t *strtab, ptrs, buf uint32) errno {
	pv, ok := m.array(ptrs, uint32(len(t.offs)), 4)
	if !ok {
		return errnoFault
	}
	bv, ok := m.view(buf, uint32(len(t.buf)))
	if !ok {
		return errnoFault
	}
	copy(bv, t.buf)
	for i, off := range t.offs {
		le.PutUint32(pv[i*4:], buf+off) // in bounds: bv was
	}
	return errnoSuccess
}

// stringsSizes serves args_sizes_get and environ_sizes_get.
func stringsSizes(m guestMem, t *strtab, countPtr, sizePtr uint32) errno {
	cv, ok1 := m.view(countPtr, 4)
	sv, ok2 := m.view(sizePtr, 4)
	if !ok1 || !ok2 {
		return errnoFault
	}
	le.PutUint32(cv, uint32(len(t.offs)))
	le.PutUint32(sv, uint32(len(t.buf)))
	return errnoSuccess
}

// monotonic is the guest's monotonic clock: nanoseconds since the System
// was made, so that the host's uptime does not show.
func (s *System) monotonic() int64 { return int64(time.Since(s.start)) }

func (s *System) clockResGet(m guestMem, id, resPtr uint32) errno {
	var res uint64
	switch id {
	case clockRealtime, clockMonotonic:
		res = 1
	case clockProcessCPUTime:
		var ts unix.Timespec
		if err := unix.ClockGetres(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
			return errnoOf(err)
		}
		res = uint64(ts.Nano())
	case clockThreadCPUTime:
		// A guest runs on a goroutine, which moves between threads.
		return errnoNotsup
	default:
		return errnoInval
	}
	if !m.putU64(resPtr, res) {
		return errnoFault
	}
	return errnoSuccess
}

func (s *System) clockTimeGet(m guestMem, id uint32, _ uint64, timePtr uint32) errno {
	var t int64
	switch id {
	case clockRealtime:
		t = time.Now().UnixNano()
	case clockMonotonic:
		t = s.monotonic()
	case clockProcessCPUTime:
		// The host process's CPU time: donjon runs one guest per process.
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
			return errnoOf(err)
		}
		t = ts.Nano()
	case clockThreadCPUTime:
		return errnoNotsup
	default:
		return errnoInval
	}
	if !m.putU64(timePtr, uint64(max(t, 0))) {
		return errnoFault
	}
	return errnoSuccess
}

func (s *System) randomGet(m guestMem, buf, n uint32) errno {
	b, ok := m.view(buf, n)
	if !ok {
		return errnoFault
	}
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return errnoIo
	}
	return errnoSuccess
}

func (s *System) schedYield() errno {
	runtime.Gosched()
	return errnoSuccess
}
