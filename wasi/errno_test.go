//go:build linux

package wasi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"donjon.dev/wasi/vfs"
)

func TestErrnoOfSyscall(t *testing.T) {
	// Every Linux errno with a WASI counterpart, by name on both sides.
	cases := map[syscall.Errno]errno{
		syscall.E2BIG: errno2big, syscall.EACCES: errnoAcces, syscall.EADDRINUSE: errnoAddrinuse,
		syscall.EADDRNOTAVAIL: errnoAddrnotavail, syscall.EAFNOSUPPORT: errnoAfnosupport,
		syscall.EAGAIN: errnoAgain, syscall.EALREADY: errnoAlready, syscall.EBADF: errnoBadf,
		syscall.EBADMSG: errnoBadmsg, syscall.EBUSY: errnoBusy, syscall.ECANCELED: errnoCanceled,
		syscall.ECHILD: errnoChild, syscall.ECONNABORTED: errnoConnaborted,
		syscall.ECONNREFUSED: errnoConnrefused, syscall.ECONNRESET: errnoConnreset,
		syscall.EDEADLK: errnoDeadlk, syscall.EDESTADDRREQ: errnoDestaddrreq, syscall.EDOM: errnoDom,
		syscall.EDQUOT: errnoDquot, syscall.EEXIST: errnoExist, syscall.EFAULT: errnoFault,
		syscall.EFBIG: errnoFbig, syscall.EHOSTUNREACH: errnoHostunreach, syscall.EIDRM: errnoIdrm,
		syscall.EILSEQ: errnoIlseq, syscall.EINPROGRESS: errnoInprogress, syscall.EINTR: errnoIntr,
		syscall.EINVAL: errnoInval, syscall.EIO: errnoIo, syscall.EISCONN: errnoIsconn,
		syscall.EISDIR: errnoIsdir, syscall.ELOOP: errnoLoop, syscall.EMFILE: errnoMfile,
		syscall.EMLINK: errnoMlink, syscall.EMSGSIZE: errnoMsgsize, syscall.EMULTIHOP: errnoMultihop,
		syscall.ENAMETOOLONG: errnoNametoolong, syscall.ENETDOWN: errnoNetdown,
		syscall.ENETRESET: errnoNetreset, syscall.ENETUNREACH: errnoNetunreach,
		syscall.ENFILE: errnoNfile, syscall.ENOBUFS: errnoNobufs, syscall.ENODEV: errnoNodev,
		syscall.ENOENT: errnoNoent, syscall.ENOEXEC: errnoNoexec, syscall.ENOLCK: errnoNolck,
		syscall.ENOLINK: errnoNolink, syscall.ENOMEM: errnoNomem, syscall.ENOMSG: errnoNomsg,
		syscall.ENOPROTOOPT: errnoNoprotoopt, syscall.ENOSPC: errnoNospc, syscall.ENOSYS: errnoNosys,
		syscall.ENOTCONN: errnoNotconn, syscall.ENOTDIR: errnoNotdir, syscall.ENOTEMPTY: errnoNotempty,
		syscall.ENOTRECOVERABLE: errnoNotrecoverable, syscall.ENOTSOCK: errnoNotsock,
		syscall.ENOTSUP: errnoNotsup, syscall.ENOTTY: errnoNotty,
		syscall.ENXIO: errnoNxio, syscall.EOVERFLOW: errnoOverflow, syscall.EOWNERDEAD: errnoOwnerdead,
		syscall.EPERM: errnoPerm, syscall.EPIPE: errnoPipe, syscall.EPROTO: errnoProto,
		syscall.EPROTONOSUPPORT: errnoProtonosupport, syscall.EPROTOTYPE: errnoPrototype,
		syscall.ERANGE: errnoRange, syscall.EROFS: errnoRofs, syscall.ESPIPE: errnoSpipe,
		syscall.ESRCH: errnoSrch, syscall.ESTALE: errnoStale, syscall.ETIMEDOUT: errnoTimedout,
		syscall.ETXTBSY: errnoTxtbsy, syscall.EXDEV: errnoXdev,
		syscall.EHOSTDOWN: errnoHostunreach,
		// No WASI counterpart: EIO.
		syscall.ENOTBLK: errnoIo, syscall.ECHRNG: errnoIo, syscall.ENODATA: errnoIo,
	}
	for in, want := range cases {
		if got := errnoOf(in); got != want {
			t.Errorf("errnoOf(%v) = %v, want %v", in, got, want)
		}
	}
	// Aliases on Linux.
	if errnoOf(syscall.EOPNOTSUPP) != errnoNotsup || errnoOf(syscall.EWOULDBLOCK) != errnoAgain {
		t.Error("EOPNOTSUPP or EWOULDBLOCK is not mapped like its alias")
	}
	if got := errnoOf(syscall.Errno(0)); got != errnoSuccess {
		t.Errorf("errnoOf(Errno(0)) = %v", got)
	}
}

func TestErrnoOfErrors(t *testing.T) {
	cases := []struct {
		err  error
		want errno
	}{
		{nil, errnoSuccess},
		{vfs.ErrNotCapable, errnoNotcapable},
		{fmt.Errorf("open x: %w", vfs.ErrNotCapable), errnoNotcapable},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, errnoNoent},
		{&os.LinkError{Op: "link", Old: "a", New: "b", Err: syscall.EXDEV}, errnoXdev},
		{fmt.Errorf("wrapped twice: %w", fmt.Errorf("once: %w", syscall.ELOOP)), errnoLoop},
		{fs.ErrNotExist, errnoNoent},
		{fs.ErrExist, errnoExist},
		{fs.ErrPermission, errnoAcces},
		{fs.ErrInvalid, errnoInval},
		{fs.ErrClosed, errnoBadf},
		{context.Canceled, errnoCanceled},
		{context.DeadlineExceeded, errnoCanceled},
		{io.ErrUnexpectedEOF, errnoIo},
		{errors.New("something else"), errnoIo},
	}
	for _, c := range cases {
		if got := errnoOf(c.err); got != c.want {
			t.Errorf("errnoOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestErrnoString(t *testing.T) {
	for e, want := range map[errno]string{
		errnoSuccess:    "ERRNO_SUCCESS",
		errno2big:       "ERRNO_2BIG",
		errnoBadf:       "ERRNO_BADF",
		errnoNotcapable: "ERRNO_NOTCAPABLE",
		77:              "errno(77)",
	} {
		if got := e.String(); got != want {
			t.Errorf("errno %d: %q, want %q", e, got, want)
		}
	}
	if len(errnoNames) != int(errnoNotcapable)+1 {
		t.Errorf("%d errno names for %d errnos", len(errnoNames), errnoNotcapable+1)
	}
}
