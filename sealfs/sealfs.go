//go:build linux

// Package sealfs implements sealed directories: the vfs contract of package
// wasi over a host directory whose every byte is encrypted and
// authenticated with a key only one workload's keeps can obtain.
//
// A guest sees an ordinary directory tree. On the host, each guest
// directory is a host directory and each guest file a host file, with
// names encrypted (deterministically, bound to the parent directory), file
// contents in AES-256-GCM blocks bound to the file and their position, and
// each file and directory carrying an authenticated header bound to its
// name and parent. A redo journal makes each change crash-atomic. Anything
// on the host that does not authenticate reads as EIO: never as other
// data. docs/sealfs.md describes the format and what is and is not
// protected.
//
// Symbolic and hard links are refused with EPERM, as on file systems
// without them. One Open serves a host directory at a time: it holds a
// lock until every Dir and File of it is closed.
package sealfs

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"donjon.dev/internal/hostsys"
)

// Options tunes Open.
type Options struct {
	// Logger receives what recovery did at Open (a journal record replayed
	// or dropped, leftovers removed) and every authentication failure,
	// with host paths only: guest names are never logged. Nil discards.
	Logger *slog.Logger
}

// volume is one open sealed directory: what its Dirs and Files share.
type volume struct {
	mu     sync.Mutex
	log    *slog.Logger
	where  string // the host directory, for messages
	keys   *keys
	names  *names
	hdrMAC hash.Hash
	jMAC   hash.Hash
	rootID [idSize]byte

	rootFd, tmpFd, jfd, lockFd int

	refs   int // open Dirs and Files; the volume closes with the last
	files  map[fileKey]*openFile
	dirs   map[*Dir]struct{}
	dirIDs map[dirKey][idSize]byte // verified directory identities

	// Scratch, used under mu: a journal record, a chunk's plaintext, one
	// block on disk, nonces.
	rec, plain, one, nonces []byte
	bio                     *blockIO

	// broken is set when an update failed after its journal record was
	// written: the file may be half updated until the record is replayed,
	// so updates are refused until the directory is opened again.
	broken error
	// crashAt, for tests, stops an update at the named stage as a crash
	// would.
	crashAt string
}

type fileKey struct{ dev, ino uint64 }

type dirKey struct {
	parent [idSize]byte
	name   string
	ino    uint64
}

// maxDirIDs bounds the cache of verified directory identities.
const maxDirIDs = 4096

var errCrash = errors.New("sealfs: simulated crash")

// Open opens the sealed directory stored in hostDir with key, a 32-byte
// sealing key, or initialises one there if hostDir is empty. The result is
// the root of the sealed tree; closing it and everything opened from it
// closes the volume. A wrong key fails with ErrWrongKey.
func Open(hostDir string, key []byte, opts Options) (*Dir, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealfs: the key is %d bytes; a sealing key is %d bytes", len(key), KeySize)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v, err := openVolume(hostDir, key, log)
	if err != nil {
		return nil, fmt.Errorf("sealfs: %s: %w", hostDir, err)
	}
	fd, err := openat(v.rootFd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		v.shutdown()
		return nil, fmt.Errorf("sealfs: %s: %w", hostDir, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.newDir(fd, v.rootID, ""), nil
}

func openVolume(hostDir string, key []byte, log *slog.Logger) (_ *volume, err error) {
	v := &volume{
		log: log, where: hostDir, rootFd: -1, tmpFd: -1, jfd: -1, lockFd: -1,
		files:  map[fileKey]*openFile{},
		dirs:   map[*Dir]struct{}{},
		dirIDs: map[dirKey][idSize]byte{},
	}
	defer func() {
		if err != nil {
			v.closeFds()
		}
	}()
	if v.rootFd, err = openat(unix.AT_FDCWD, hostDir, unix.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
		return nil, fmt.Errorf("cannot open the directory: %w", err)
	}
	v.lockFd, err = openat(v.rootFd, rootFile, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err == unix.ENOENT {
		if err = initVolume(v.rootFd, key); err != nil {
			return nil, err
		}
		v.lockFd, err = openat(v.rootFd, rootFile, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open its header %s: %w", rootFile, err)
	}
	if err := hostsys.Retry(func() error { return unix.Flock(v.lockFd, unix.LOCK_EX|unix.LOCK_NB) }); err != nil {
		if err == unix.EWOULDBLOCK {
			return nil, errors.New("it is in use by another keep or already open in this process; a sealed directory serves one keep at a time")
		}
		return nil, fmt.Errorf("cannot lock it: %w", err)
	}
	b := make([]byte, rootLen+1)
	n, err := preadFull(v.lockFd, b, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read its header %s: %w", rootFile, err)
	}
	h, err := parseRoot(b[:n])
	if err != nil {
		return nil, fmt.Errorf("its header %s: %w", rootFile, err)
	}
	if v.keys, err = deriveKeys(key, h.salt[:]); err != nil {
		return nil, err
	}
	if !hmac.Equal(rootKCV(v.keys, b), b[64:rootLen]) {
		return nil, ErrWrongKey
	}
	v.rootID = h.rootID
	v.names = newNames(v.keys)
	v.hdrMAC = hmac.New(sha256.New, v.keys.header)
	v.jMAC = hmac.New(sha256.New, v.keys.journal)

	if err := v.openTmp(); err != nil {
		return nil, err
	}
	if v.jfd, err = openat(v.rootFd, journalFile, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o600); err != nil {
		return nil, fmt.Errorf("cannot open its journal: %w", err)
	}
	v.rec = make([]byte, maxJRec)
	v.plain = make([]byte, maxChunk*BlockSize)
	v.one = make([]byte, recSize)
	v.bio = newBlockIO()
	v.nonces = make([]byte, maxChunk*nonceSize)
	if err := v.replay(); err != nil {
		return nil, err
	}
	return v, nil
}

// initVolume writes a new volume header into an empty directory. The
// header appears whole or not at all (written aside, then renamed).
func initVolume(rootFd int, key []byte) error {
	ents, err := listDir(rootFd)
	if err != nil {
		return fmt.Errorf("cannot list it: %w", err)
	}
	for _, e := range ents {
		if e.Name != tmpDir && e.Name != journalFile {
			return ErrNotSealed
		}
	}
	if err := unix.Mkdirat(rootFd, tmpDir, 0o700); err != nil && err != unix.EEXIST {
		return fmt.Errorf("cannot initialise it: %w", err)
	}
	tfd, err := openat(rootFd, tmpDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("cannot initialise it: %w", err)
	}
	defer unix.Close(tfd)
	var h rootHeader
	rand.Read(h.salt[:])
	rand.Read(h.rootID[:])
	k, err := deriveKeys(key, h.salt[:])
	if err != nil {
		return err
	}
	b := h.encode()
	copy(b[64:], rootKCV(k, b))
	name := tmpName()
	fd, err := openat(tfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("cannot initialise it: %w", err)
	}
	err = pwriteFull(fd, b, 0)
	if err == nil {
		err = fsync(fd)
	}
	unix.Close(fd)
	if err == nil {
		err = renameNoReplace(tfd, name, rootFd, rootFile, false)
		if err == unix.EEXIST {
			err = nil // initialised meanwhile by another Open: use theirs
		}
	}
	if err != nil {
		unlinkat(tfd, name, 0)
		return fmt.Errorf("cannot initialise it: %w", err)
	}
	return fsync(rootFd)
}

// openTmp opens the directory where entries are prepared and removed, and
// empties it: what a crash left there was never visible to the guest, or
// was already removed.
func (v *volume) openTmp() error {
	if err := unix.Mkdirat(v.rootFd, tmpDir, 0o700); err != nil && err != unix.EEXIST {
		return fmt.Errorf("cannot create %s: %w", tmpDir, err)
	}
	var err error
	if v.tmpFd, err = openat(v.rootFd, tmpDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0); err != nil {
		return fmt.Errorf("cannot open %s: %w", tmpDir, err)
	}
	ents, err := listDir(v.tmpFd)
	if err != nil {
		return fmt.Errorf("cannot list %s: %w", tmpDir, err)
	}
	for _, e := range ents {
		if err := removeAll(v.tmpFd, e.Name, 8); err != nil {
			return fmt.Errorf("cannot clean %s: %w", tmpDir, err)
		}
	}
	if len(ents) > 0 {
		v.log.Info("sealfs: removed leftovers of interrupted operations", "dir", v.where, "count", len(ents))
	}
	return nil
}

// removeAll removes name from dirfd, and what it holds, without following
// symbolic links, at most depth levels down.
func removeAll(dirfd int, name string, depth int) error {
	err := unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	if depth == 0 {
		return fmt.Errorf("%s is nested too deep", name)
	}
	fd, err := openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	ents, err := listDir(fd)
	for _, e := range ents {
		if err == nil {
			err = removeAll(fd, e.Name, depth-1)
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// tmpName is a fresh name for the temporary directory.
func tmpName() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (v *volume) unref() error {
	v.refs--
	if v.refs > 0 {
		return nil
	}
	return v.shutdown()
}

// shutdown closes the volume. Every journal record has been applied, so
// the journal is emptied, unless an update failed half way: then the
// record stays for the next Open to replay.
func (v *volume) shutdown() error {
	var err error
	if v.broken == nil && v.jfd >= 0 {
		err = ftruncate(v.jfd, 0)
	}
	return errors.Join(err, v.closeFds())
}

func (v *volume) closeFds() error {
	var errs []error
	for _, fd := range []*int{&v.jfd, &v.tmpFd, &v.rootFd, &v.lockFd} {
		if *fd >= 0 {
			errs = append(errs, unix.Close(*fd))
			*fd = -1
		}
	}
	return errors.Join(errs...)
}

// abandon drops the volume as a killed process would: descriptors closed,
// nothing cleaned up. For tests.
func (v *volume) abandon() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, f := range v.files {
		unix.Close(f.fd)
	}
	for d := range v.dirs {
		unix.Close(d.fd)
		d.closed = true
	}
	v.files, v.dirs = map[fileKey]*openFile{}, map[*Dir]struct{}{}
	v.closeFds()
}

// crash reports whether a test asked updates to stop at stage, and if so
// leaves the volume as a crash there would.
func (v *volume) crash(stage string) bool {
	if v.crashAt != stage {
		return false
	}
	v.broken = errCrash
	return true
}

// corrupt reports bytes on the host that do not authenticate, or are not
// what this package writes: the guest gets EIO, the log says where.
func (v *volume) corrupt(hostPath, what string) error {
	v.log.Warn("sealfs: data on the host does not authenticate: it was altered, moved or replaced", "dir", v.where, "path", hostPath, "what", what)
	return fmt.Errorf("sealfs: %s: %s: %w", hostPath, what, syscall.EIO)
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func nowNanos() uint64 { return uint64(time.Now().UnixNano()) }

// replay applies the journal's record, if it is complete, at Open: a crash
// may have stopped its update half way. An incomplete record is dropped:
// its update had not started.
func (v *volume) replay() error {
	st, err := fstat(v.jfd)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if st.Size == 0 {
		return nil
	}
	buf := make([]byte, min(st.Size, maxJRec))
	n, err := preadFull(v.jfd, buf, 0)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	r, err := parseRecord(v.jMAC, buf[:n])
	if err != nil {
		v.log.Info("sealfs: dropped an incomplete journal record: its update had not started", "dir", v.where)
		return v.clearJournal()
	}
	done, err := v.applyRecord(r)
	if err != nil {
		return fmt.Errorf("cannot replay the journal: %w", err)
	}
	if done {
		v.log.Info("sealfs: replayed the journal: an update interrupted by a crash is complete", "dir", v.where, "path", r.path)
	}
	return v.clearJournal()
}

func (v *volume) clearJournal() error {
	if err := ftruncate(v.jfd, 0); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return fdatasync(v.jfd)
}

// applyRecord redoes r on its file if the file is in the state r starts
// from or leads to; otherwise r is stale (its update completed and the file
// moved on, or the file is gone) and nothing is done.
func (v *volume) applyRecord(r *record) (bool, error) {
	comps := strings.Split(r.path, "/")
	cur := frame{fd: v.rootFd, id: v.rootID}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	var name string
	for i, c := range comps {
		var ok bool
		if name, ok = v.names.open(&cur.id, c); !ok {
			return false, nil
		}
		if i == len(comps)-1 {
			break
		}
		fr, err := v.openDirAt(&cur, name)
		if err != nil {
			return false, nil
		}
		fds = append(fds, fr.fd)
		cur = fr
	}
	fd, err := openat(cur.fd, comps[len(comps)-1], unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err == unix.ENOENT || err == unix.ELOOP || err == unix.EISDIR || err == unix.ENXIO {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fds = append(fds, fd)
	if st, err := fstat(fd); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, err
	}
	region := make([]byte, hdrSize)
	if n, err := preadFull(fd, region, 0); err != nil || n < hdrSize {
		return false, err
	}
	b := binding{&cur.id, name}
	h, slot, _, err := parseHeader(v.hdrMAC, region, fileMagic, b)
	if err != nil || h.id != r.fileID || slot != r.slot || (h.gen != r.from && h.gen != r.to) {
		return false, nil
	}
	nh, state, err := parseSlot(v.hdrMAC, r.slotData, fileMagic, b)
	if err != nil || state != slotBound || nh.id != r.fileID || nh.gen != r.to || r.to != r.from+1 ||
		hostLength(nh.size) != r.hostLen || r.first+int64(r.n) > blocks(nh.size) {
		return false, nil
	}
	aead, err := v.keys.fileAEAD(&nh.id)
	if err != nil {
		return false, err
	}
	var ad [idSize + 8]byte
	plain := make([]byte, 0, BlockSize)
	for i := range r.n {
		rec := r.blocks[i*recSize : (i+1)*recSize]
		if _, err := aead.Open(plain, rec[:nonceSize], rec[nonceSize:], blockAD(&ad, &nh.id, r.first+int64(i))); err != nil {
			return false, nil
		}
	}
	if r.n > 0 {
		if err := newBlockIO().writeRecords(fd, r.blocks, r.first, r.n, nil); err != nil {
			return false, err
		}
	}
	if err := pwriteFull(fd, r.slotData, int64(r.slot)*slotSize); err != nil {
		return false, err
	}
	if err := ftruncate(fd, r.hostLen); err != nil {
		return false, err
	}
	return true, fdatasync(fd)
}
