// Package vfs is the contract between the wasi fd table and what it hands
// to a guest as file descriptors: host directories (package hostfs), sealed
// directories, stdio streams and sockets.
//
// A Dir is a capability: every path given to its methods is relative and
// resolves beneath it, symbolic links included; a path that would leave it
// fails with ErrNotCapable. Paths are never absolute and never empty (the
// wasi package refuses those before calling in), but implementations check
// again.
//
// Errors are ordinary Go errors: syscall.Errno values (syscall.ENOENT, ...),
// ErrNotCapable, or errors wrapping them. Package wasi maps them to WASI
// errnos. Methods never block on I/O readiness: where an operation would
// wait, Files that report readiness (HostPollable, Notifier) return
// syscall.EAGAIN and package wasi does the waiting.
//
// Implementations are used from one goroutine at a time.
package vfs

import "errors"

// ErrNotCapable reports a path that leaves the directory it is resolved in:
// "..", an absolute symbolic link, or a link pointing outside.
var ErrNotCapable = errors.New("path leaves the directory capability")

// FileType is the type of a file, numbered as in WASI preview 1.
type FileType uint8

// File types. Preview 1 has no FIFO type: pipes are Unknown.
const (
	TypeUnknown FileType = iota
	TypeBlockDevice
	TypeCharacterDevice
	TypeDirectory
	TypeRegularFile
	TypeSocketDgram
	TypeSocketStream
	TypeSymbolicLink
)

// Filestat describes a file, as WASI's filestat.
type Filestat struct {
	Dev   uint64
	Ino   uint64
	Type  FileType
	Nlink uint64
	Size  uint64
	// Times are nanoseconds since the Unix epoch.
	Atim, Mtim, Ctim uint64
}

// Dirent is one directory entry.
type Dirent struct {
	Name string
	Ino  uint64
	Type FileType
}

// TimeMode says what SetTimes does with one timestamp.
type TimeMode uint8

// Time modes.
const (
	TimeOmit TimeMode = iota // leave it unchanged
	TimeNow                  // set it to the current time
	TimeSet                  // set it to Time.Nanos
)

// Time is a timestamp change.
type Time struct {
	Mode  TimeMode
	Nanos uint64 // nanoseconds since the Unix epoch, for TimeSet
}

// Advice is a hint for Advise, numbered as in WASI preview 1.
type Advice uint8

// Advice values.
const (
	AdviceNormal Advice = iota
	AdviceSequential
	AdviceRandom
	AdviceWillNeed
	AdviceDontNeed
	AdviceNoReuse
)

// OpenFlags says how Dir.Open opens a path.
type OpenFlags uint32

// Open flags.
const (
	OpenRead      OpenFlags = 1 << iota // read access
	OpenWrite                           // write access
	OpenCreate                          // create a regular file if missing
	OpenExclusive                       // with OpenCreate, fail if it exists
	OpenTruncate                        // truncate a regular file to zero
	OpenDirectory                       // fail unless it is a directory
	OpenFollow                          // follow a symbolic link in the last component
	OpenAppend                          // writes append
	OpenSync                            // writes are synchronous (O_SYNC)
	OpenDsync                           // data writes are synchronous (O_DSYNC)
	OpenRsync                           // reads are synchronized (O_RSYNC)
)

// Node is what Dir.Open returns: a File or a Dir.
type Node interface {
	// Type is the node's file type. It is known at open time and costs
	// nothing.
	Type() FileType
	Stat() (Filestat, error)
	SetTimes(atim, mtim Time) error
	Sync() error
	Datasync() error
	Close() error
}

// File is an open file: regular file, stream or device. Operations that do
// not apply to a kind of file return an errno (syscall.ESPIPE for Seek on a
// pipe, for example).
type File interface {
	Node
	Readv(iovs [][]byte) (int, error)
	Writev(iovs [][]byte) (int, error)
	Preadv(iovs [][]byte, offset int64) (int, error)
	Pwritev(iovs [][]byte, offset int64) (int, error)
	Seek(offset int64, whence int) (int64, error)
	Truncate(size int64) error
	Allocate(offset, length int64) error
	Advise(offset, length int64, advice Advice) error
	// SetAppend turns append mode on or off.
	SetAppend(on bool) error
}

// Dir is an open directory and a capability over the tree beneath it.
type Dir interface {
	Node
	// Open opens path, which may name a file or a directory: the result is
	// a File or a Dir. OpenFollow decides whether a symbolic link in the
	// last component is followed; links in other components always are.
	Open(path string, flags OpenFlags) (Node, error)
	StatAt(path string, follow bool) (Filestat, error)
	SetTimesAt(path string, follow bool, atim, mtim Time) error
	Mkdir(path string) error
	Rmdir(path string) error
	Unlink(path string) error
	// Symlink creates path as a symbolic link to target, which is stored
	// as given (relative: it is resolved when followed).
	Symlink(target, path string) error
	// Readlink copies the target of the symbolic link path into buf and
	// returns the number of bytes copied; a longer target is truncated.
	Readlink(path string, buf []byte) (int, error)
	// Link creates newPath in newDir as a hard link to oldPath. newDir may
	// be of another implementation: then Link fails with syscall.EXDEV.
	Link(oldPath string, newDir Dir, newPath string, follow bool) error
	// Rename moves oldPath to newPath in newDir, with the same rule.
	Rename(oldPath string, newDir Dir, newPath string) error
	// ReadDir fills ents with the next entries of the directory, "." and
	// ".." excluded, and returns how many it filled; 0 and io.EOF at the
	// end.
	ReadDir(ents []Dirent) (int, error)
	// Rewind makes the next ReadDir start from the first entry again.
	Rewind() error
}

// HostPollable is implemented by Files whose readiness is that of a host
// file descriptor (pipes, terminals, character devices): package wasi waits
// for them with poll(2). Regular files need not implement it: they are
// always ready.
type HostPollable interface {
	// PollFD is the host descriptor to poll, or -1 if the file is always
	// ready.
	PollFD() int
}

// Notifier is implemented by Files whose readiness is decided in Go, such as
// TLS sockets whose buffered plaintext poll(2) cannot see.
type Notifier interface {
	// Ready reports whether a read (write false) or a write (write true)
	// would make progress now, returning data, an error or end of file.
	Ready(write bool) bool
	// Notify arranges for wake to be called, from any goroutine, whenever
	// readiness may have changed, until stop is called. Package wasi
	// arms at most one notification per Notifier at a time.
	Notify(wake func()) (stop func())
}

// Socket is a connected or listening socket handed to a guest. Its File
// methods serve fd_read and fd_write; Stat reports TypeSocketStream or
// TypeSocketDgram. Sockets implement HostPollable or Notifier, and their
// methods return syscall.EAGAIN instead of blocking.
type Socket interface {
	File
	// Accept returns the next pending connection of a listening socket.
	Accept() (Socket, error)
	// Recv reads like Readv; with peek the data stays queued.
	Recv(iovs [][]byte, peek bool) (int, error)
	// Send writes like Writev.
	Send(iovs [][]byte) (int, error)
	// Shutdown shuts down the receiving and/or sending side.
	Shutdown(read, write bool) error
}
