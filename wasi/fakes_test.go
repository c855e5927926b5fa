//go:build linux

package wasi

import (
	"bytes"
	"io"
	"sync"
	"syscall"

	"donjon.dev/wasi/vfs"
)

// fakeDir is a directory that only lists entries: enough to test fd_readdir
// exactly, and to be "another implementation" for rename and link.
type fakeDir struct {
	opens   []vfs.Node // what Open returns, in turn; then ENOTSUP
	ents    []vfs.Dirent
	ino     uint64
	pos     int
	rewinds int
	closed  bool
}

var _ vfs.Dir = (*fakeDir)(nil)

func (d *fakeDir) Type() vfs.FileType { return vfs.TypeDirectory }
func (d *fakeDir) Stat() (vfs.Filestat, error) {
	return vfs.Filestat{Ino: d.ino, Type: vfs.TypeDirectory, Nlink: 2}, nil
}
func (d *fakeDir) SetTimes(vfs.Time, vfs.Time) error { return syscall.ENOTSUP }
func (d *fakeDir) Sync() error                       { return nil }
func (d *fakeDir) Datasync() error                   { return nil }
func (d *fakeDir) Close() error                      { d.closed = true; return nil }
func (d *fakeDir) Open(string, vfs.OpenFlags) (vfs.Node, error) {
	if len(d.opens) == 0 {
		return nil, syscall.ENOTSUP
	}
	n := d.opens[0]
	d.opens = d.opens[1:]
	return n, nil
}
func (d *fakeDir) StatAt(string, bool) (vfs.Filestat, error) {
	return vfs.Filestat{}, syscall.ENOTSUP
}
func (d *fakeDir) SetTimesAt(string, bool, vfs.Time, vfs.Time) error { return syscall.ENOTSUP }
func (d *fakeDir) Mkdir(string) error                                { return syscall.ENOTSUP }
func (d *fakeDir) Rmdir(string) error                                { return syscall.ENOTSUP }
func (d *fakeDir) Unlink(string) error                               { return syscall.ENOTSUP }
func (d *fakeDir) Symlink(string, string) error                      { return syscall.ENOTSUP }
func (d *fakeDir) Readlink(string, []byte) (int, error)              { return 0, syscall.ENOTSUP }
func (d *fakeDir) Link(string, vfs.Dir, string, bool) error          { return syscall.EXDEV }
func (d *fakeDir) Rename(string, vfs.Dir, string) error              { return syscall.EXDEV }
func (d *fakeDir) ReadDir(ents []vfs.Dirent) (int, error) {
	if d.pos == len(d.ents) {
		return 0, io.EOF
	}
	n := copy(ents, d.ents[d.pos:])
	d.pos += n
	return n, nil
}
func (d *fakeDir) Rewind() error { d.pos = 0; d.rewinds++; return nil }

// fakeSocket is a socket whose readiness is decided in Go, like a TLS
// socket: the test feeds it data and connections from any goroutine.
type fakeSocket struct {
	mu      sync.Mutex
	in      bytes.Buffer
	eof     bool
	out     bytes.Buffer
	pending []*fakeSocket
	wake    func()
	armed   int // notifications armed and not stopped
	maxArm  int // the most armed at once
	shutRd  bool
	shutWr  bool
	closed  bool
}

var (
	_ vfs.Socket   = (*fakeSocket)(nil)
	_ vfs.Notifier = (*fakeSocket)(nil)
)

func (s *fakeSocket) changed() {
	s.mu.Lock()
	w := s.wake
	s.mu.Unlock()
	if w != nil {
		w()
	}
}

// feed queues data to receive; eof ends the stream after it.
func (s *fakeSocket) feed(data string, eof bool) {
	s.mu.Lock()
	s.in.WriteString(data)
	s.eof = s.eof || eof
	s.mu.Unlock()
	s.changed()
}

// queue makes c a pending connection.
func (s *fakeSocket) queue(c *fakeSocket) {
	s.mu.Lock()
	s.pending = append(s.pending, c)
	s.mu.Unlock()
	s.changed()
}

func (s *fakeSocket) sent() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *fakeSocket) Ready(write bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return write || s.in.Len() > 0 || s.eof || len(s.pending) > 0
}

func (s *fakeSocket) Notify(wake func()) func() {
	s.mu.Lock()
	s.wake = wake
	s.armed++
	s.maxArm = max(s.maxArm, s.armed)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.wake = nil
		s.armed--
		s.mu.Unlock()
	}
}

func (s *fakeSocket) Accept() (vfs.Socket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return nil, syscall.EAGAIN
	}
	c := s.pending[0]
	s.pending = s.pending[1:]
	return c, nil
}

func (s *fakeSocket) Recv(iovs [][]byte, peek bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in.Len() == 0 {
		if s.eof {
			return 0, nil
		}
		return 0, syscall.EAGAIN
	}
	data := s.in.Bytes()
	n := 0
	for _, b := range iovs {
		n += copy(b, data[n:])
	}
	if !peek {
		s.in.Next(n)
	}
	return n, nil
}

func (s *fakeSocket) Send(iovs [][]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutWr {
		return 0, syscall.EPIPE
	}
	n := 0
	for _, b := range iovs {
		k, _ := s.out.Write(b)
		n += k
	}
	return n, nil
}

func (s *fakeSocket) Shutdown(rd, wr bool) error {
	s.mu.Lock()
	s.shutRd, s.shutWr = s.shutRd || rd, s.shutWr || wr
	s.mu.Unlock()
	return nil
}

func (s *fakeSocket) Type() vfs.FileType { return vfs.TypeSocketStream }
func (s *fakeSocket) Stat() (vfs.Filestat, error) {
	return vfs.Filestat{Type: vfs.TypeSocketStream, Nlink: 1}, nil
}
func (s *fakeSocket) SetTimes(vfs.Time, vfs.Time) error     { return syscall.ENOTSUP }
func (s *fakeSocket) Sync() error                           { return syscall.EINVAL }
func (s *fakeSocket) Datasync() error                       { return syscall.EINVAL }
func (s *fakeSocket) Close() error                          { s.closed = true; return nil }
func (s *fakeSocket) Readv(iovs [][]byte) (int, error)      { return s.Recv(iovs, false) }
func (s *fakeSocket) Writev(iovs [][]byte) (int, error)     { return s.Send(iovs) }
func (s *fakeSocket) Preadv([][]byte, int64) (int, error)   { return 0, syscall.ESPIPE }
func (s *fakeSocket) Pwritev([][]byte, int64) (int, error)  { return 0, syscall.ESPIPE }
func (s *fakeSocket) Seek(int64, int) (int64, error)        { return 0, syscall.ESPIPE }
func (s *fakeSocket) Truncate(int64) error                  { return syscall.EINVAL }
func (s *fakeSocket) Allocate(int64, int64) error           { return syscall.ESPIPE }
func (s *fakeSocket) Advise(int64, int64, vfs.Advice) error { return syscall.ESPIPE }
func (s *fakeSocket) SetAppend(bool) error                  { return syscall.ENOTSUP }
