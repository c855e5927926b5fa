//go:build linux

package sealfs

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
	"syscall"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/vfs"
)

// openFile is the state of one open file, shared by all its descriptors
// so that they see each other's writes at once: one host descriptor, the
// header, the file's AEAD and a small cache of plaintext blocks.
type openFile struct {
	v       *volume
	fd      int
	rw      bool  // fd is writable
	roErr   error // why it is not
	key     fileKey
	refs    int
	hdr     header
	slot    int   // the header slot bound to the file's place
	hostLen int64 // the host file's length

	parentID [idSize]byte // where the file is bound: parent directory and name
	name     string
	dirPath  string // host path of the parent directory, for the journal
	host     string // host name
	unlinked bool   // removed or replaced: no longer journaled

	aead    cipher.AEAD // created on first use
	ad      [idSize + 8]byte
	cache   blockCache
	entries entryCache
}

func (f *openFile) binding() binding { return binding{&f.parentID, f.name} }

func (f *openFile) path() string { return joinPath(f.dirPath, f.host) }

// acquire returns the state of file name (host name host) in p, opening it
// and checking its header unless a descriptor has it open already.
func (v *volume) acquire(p *frame, name, host string) (*openFile, error) {
	const flags = unix.O_NOFOLLOW | unix.O_NONBLOCK // O_NONBLOCK: a planted FIFO must not block us
	rw := true
	var roErr error
	fd, err := openat(p.fd, host, unix.O_RDWR|flags, 0)
	if err == unix.EACCES || err == unix.EROFS || err == unix.EPERM {
		rw, roErr = false, err
		fd, err = openat(p.fd, host, unix.O_RDONLY|flags, 0)
	}
	hostPath := joinPath(p.path, host)
	switch err {
	case nil:
	case unix.ELOOP, unix.ENXIO, unix.ENODEV:
		return nil, v.corrupt(hostPath, "neither a file nor a directory")
	default:
		return nil, err
	}
	st, err := fstat(fd)
	if err == nil && fileType(st.Mode) != vfs.TypeRegularFile {
		err = v.corrupt(hostPath, "not a regular file")
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	key := fileKey{st.Dev, st.Ino}
	if f := v.files[key]; f != nil {
		unix.Close(fd)
		if f.unlinked || f.parentID != p.id || f.name != name {
			return nil, v.corrupt(hostPath, "a hard link to another file") // we never make one
		}
		f.refs++
		return f, nil
	}
	region := make([]byte, hdrSize)
	n, err := preadFull(fd, region, 0)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	b := binding{&p.id, name}
	h, slot, stale, err := parseHeader(v.hdrMAC, region[:n], fileMagic, b)
	if err == nil && st.Size != hostLength(h.size) {
		err = v.corrupt(hostPath, fmt.Sprintf("host length %d does not match the authenticated size %d", st.Size, h.size))
	} else if err != nil {
		err = v.corrupt(hostPath, "file header")
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	if stale >= 0 && rw {
		// A rename cut short left the slot of the old name: clear it, so
		// that a copy of this file cannot pass for the old name later.
		pwriteFull(fd, make([]byte, slotSize), int64(stale)*slotSize)
	}
	f := &openFile{
		v: v, fd: fd, rw: rw, roErr: roErr, key: key, refs: 1, hdr: h, slot: slot, hostLen: st.Size,
		parentID: p.id, name: name, dirPath: p.path, host: host,
	}
	v.files[key] = f
	return f, nil
}

// createFile creates file name in p. Its header is written aside and the
// file renamed into place: it appears whole or not at all.
func (v *volume) createFile(p *frame, name, host string) (*openFile, error) {
	tmp := tmpName()
	fd, err := openat(v.tmpFd, tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	now := nowNanos()
	h := header{gen: 1, atim: now, mtim: now, ctim: now}
	rand.Read(h.id[:])
	region := make([]byte, hdrSize)
	encodeSlot(v.hdrMAC, region, fileMagic, &h, binding{&p.id, name})
	err = pwriteFull(fd, region, 0)
	if err == nil {
		err = renameNoReplace(v.tmpFd, tmp, p.fd, host, false)
	}
	var st unix.Stat_t
	if err == nil {
		st, err = fstat(fd)
	}
	if err != nil {
		unlinkat(v.tmpFd, tmp, 0)
		unix.Close(fd)
		return nil, err
	}
	f := &openFile{
		v: v, fd: fd, rw: true, key: fileKey{st.Dev, st.Ino}, refs: 1, hdr: h, hostLen: hdrSize,
		parentID: p.id, name: name, dirPath: p.path, host: host,
	}
	v.files[f.key] = f
	return f, nil
}

func (v *volume) release(f *openFile) {
	f.refs--
	if f.refs > 0 {
		return
	}
	unix.Close(f.fd)
	if v.files[f.key] == f {
		delete(v.files, f.key)
	}
}

func (f *openFile) stat() (vfs.Filestat, error) {
	st, err := fstat(f.fd)
	if err != nil {
		return vfs.Filestat{}, err
	}
	return vfs.Filestat{
		Dev: st.Dev, Ino: st.Ino, Type: vfs.TypeRegularFile, Nlink: uint64(st.Nlink),
		Size: uint64(f.hdr.size), Atim: f.hdr.atim, Mtim: f.hdr.mtim, Ctim: f.hdr.ctim,
	}, nil
}

func (f *openFile) cipher() (cipher.AEAD, error) {
	if f.aead == nil {
		a, err := f.v.keys.fileAEAD(&f.hdr.id)
		if err != nil {
			return nil, err
		}
		f.aead = a
	}
	return f.aead, nil
}

// openBlock decrypts block b from its record rec into dst (BlockSize
// bytes).
func (f *openFile) openBlock(b int64, rec, dst []byte) error {
	a, err := f.cipher()
	if err != nil {
		return err
	}
	if _, err := a.Open(dst[:0], rec[:nonceSize], rec[nonceSize:], blockAD(&f.ad, &f.hdr.id, b)); err != nil {
		return f.v.corrupt(f.path(), fmt.Sprintf("block %d", b))
	}
	return nil
}

// loadBlock reads the plaintext of block b into dst.
func (f *openFile) loadBlock(b int64, dst []byte) error {
	if c := f.cache.get(b); c != nil {
		copy(dst, c)
		return nil
	}
	rec := f.v.one
	n, err := f.v.bio.readRecords(f.fd, rec, b, 1, &f.entries, blocks(f.hdr.size))
	if err != nil {
		return err
	}
	if n < 1 {
		return f.v.corrupt(f.path(), fmt.Sprintf("block %d is cut short", b))
	}
	return f.openBlock(b, rec, dst)
}

// readAt reads up to n bytes at off into dst. Runs of blocks that are not
// cached are read with one system call.
func (f *openFile) readAt(dst *iovCursor, n, off int64) (int64, error) {
	v := f.v
	end := min(off+n, f.hdr.size)
	done := int64(0)
	for off < end {
		b := off / BlockSize
		if c := f.cache.get(b); c != nil {
			s := b * BlockSize
			m := dst.put(c[off-s : min(end, s+BlockSize)-s])
			off, done = off+int64(m), done+int64(m)
			continue
		}
		last := (end - 1) / BlockSize
		k := int64(1)
		for b+k <= last && k < maxChunk && f.cache.get(b+k) == nil {
			k++
		}
		buf := v.rec[:k*recSize]
		got, err := v.bio.readRecords(f.fd, buf, b, int(k), &f.entries, blocks(f.hdr.size))
		if err != nil {
			return done, err
		}
		if got < int(k) {
			return done, v.corrupt(f.path(), fmt.Sprintf("block %d is cut short", b+int64(got)))
		}
		p := v.plain[:BlockSize]
		for j := range k {
			bj, s := b+j, (b+j)*BlockSize
			if err := f.openBlock(bj, buf[j*recSize:(j+1)*recSize], p); err != nil {
				return done, err
			}
			lo, hi := max(off, s), min(end, s+BlockSize)
			m := dst.put(p[lo-s : hi-s])
			if hi-lo < BlockSize {
				f.cache.put(bj, p) // a partial read: the rest is likely next
			}
			off, done = off+int64(m), done+int64(m)
		}
	}
	return done, nil
}

// writeAt writes n bytes from src at off. Bytes between the end of the
// file and off read as zeros. The write goes in chunks of up to maxChunk
// blocks, each one journaled update: a crash leaves each chunk old or new.
func (f *openFile) writeAt(src *iovCursor, n, off int64, sync bool) (int64, error) {
	v := f.v
	if n == 0 {
		return 0, nil
	}
	if off >= MaxFileSize {
		return 0, unix.EFBIG
	}
	n = min(n, MaxFileSize-off)
	path := ""
	if !f.unlinked {
		if path = f.path(); len(path) > maxPath {
			return 0, unix.ENAMETOOLONG
		}
	}
	prefix := jPath + len(path)
	size := f.hdr.size
	lo, hi := min(off, size), off+n
	done := int64(0)
	for blk := lo / BlockSize; blk*BlockSize < hi; {
		k := min(maxChunk, (hi+BlockSize-1)/BlockSize-blk)
		cStart, cEnd := max(lo, blk*BlockSize), min(hi, (blk+k)*BlockSize)
		plain := v.plain[:k*BlockSize]
		taken := int64(0)
		for j := range k {
			s := (blk + j) * BlockSize
			p := plain[j*BlockSize : (j+1)*BlockSize]
			ws, we := max(cStart, s), min(cEnd, s+BlockSize)
			if ws > s || we < s+BlockSize {
				// Partly written: start from the block as it is, with
				// nothing past the end of the file.
				if s < size {
					if err := f.loadBlock(blk+j, p); err != nil {
						return done, err
					}
					if size < s+BlockSize {
						clear(p[size-s:])
					}
				} else {
					clear(p)
				}
			}
			if ws < off { // the gap before off
				z := min(we, off)
				clear(p[ws-s : z-s])
				ws = z
			}
			if ws < we {
				src.take(p[ws-s : we-s])
				taken += we - ws
			}
		}
		h := f.hdr
		h.gen++
		h.size = max(size, cEnd)
		h.mtim = nowNanos()
		h.ctim = h.mtim
		if err := f.seal(blk, int(k), plain, prefix); err != nil {
			return done, err
		}
		if err := f.commit(path, blk, int(k), &h, sync); err != nil {
			return done, err
		}
		done += taken
		for j := range k {
			s := (blk + j) * BlockSize
			if max(cStart, s) > s || min(cEnd, s+BlockSize) < s+BlockSize {
				f.cache.put(blk+j, plain[j*BlockSize:(j+1)*BlockSize])
			} else {
				f.cache.update(blk+j, plain[j*BlockSize:(j+1)*BlockSize])
			}
		}
		size = h.size
		blk += k
	}
	return done, nil
}

// seal encrypts k blocks of plain, from block first, into v.rec after a
// record prefix of prefix bytes, each with a fresh random nonce.
func (f *openFile) seal(first int64, k int, plain []byte, prefix int) error {
	v := f.v
	a, err := f.cipher()
	if err != nil {
		return err
	}
	nonces := v.nonces[:k*nonceSize]
	if _, err := rand.Read(nonces); err != nil {
		return err
	}
	for j := range k {
		r := v.rec[prefix+j*recSize : prefix+(j+1)*recSize]
		copy(r, nonces[j*nonceSize:(j+1)*nonceSize])
		a.Seal(r[nonceSize:nonceSize], r[:nonceSize], plain[j*BlockSize:(j+1)*BlockSize], blockAD(&f.ad, &f.hdr.id, first+int64(j)))
	}
	return nil
}

// commit applies one update: n blocks from first, sealed in v.rec after the
// journal record prefix for path, and the new header h. The complete
// record goes to the journal first; then the blocks and the header are
// written in place. A crash before the record is complete leaves the old
// state; after, Open replays the record. With sync, both writes are made
// durable, so that a power loss also leaves the old or the new state.
func (f *openFile) commit(path string, first int64, n int, h *header, sync bool) error {
	v := f.v
	if v.broken != nil {
		return fmt.Errorf("sealfs: an earlier update failed (%v); open the directory again to recover: %w", v.broken, syscall.EIO)
	}
	var slot [slotLen]byte
	encodeSlot(v.hdrMAC, slot[:], fileMagic, h, f.binding())
	hostLen := hostLength(h.size)
	prefix := jPath + len(path)
	blocks := v.rec[prefix : prefix+n*recSize]
	if !f.unlinked {
		r := record{fileID: h.id, from: f.hdr.gen, to: h.gen, slot: f.slot, slotData: slot[:],
			hostLen: hostLen, first: first, n: n, path: path}
		total := prefix + n*recSize + macSize
		encodeRecordPrefix(v.rec, &r, total)
		recordMAC(v.jMAC, v.rec[total-macSize:total], v.rec[:prefix], blocks, n)
		if err := pwriteFull(v.jfd, v.rec[:total], 0); err != nil {
			return fmt.Errorf("sealfs: journal: %w", err)
		}
		if sync {
			if err := fdatasync(v.jfd); err != nil {
				return fmt.Errorf("sealfs: journal: %w", err)
			}
		}
		if v.crash("journal") {
			return errCrash
		}
	}
	fail := func(err error) error {
		v.broken = err
		v.log.Error("sealfs: an update failed half way; updates are refused until the directory is opened again", "dir", v.where, "path", f.path(), "err", err)
		return err
	}
	if n > 0 {
		if err := v.bio.writeRecords(f.fd, blocks, first, n, &f.entries); err != nil {
			return fail(err)
		}
	}
	if v.crash("blocks") {
		return errCrash
	}
	if err := pwriteFull(f.fd, slot[:], int64(f.slot)*slotSize); err != nil {
		return fail(err)
	}
	if hostLen < f.hostLen {
		if err := ftruncate(f.fd, hostLen); err != nil {
			return fail(err)
		}
	}
	if sync {
		if err := fdatasync(f.fd); err != nil {
			return fail(err)
		}
	}
	f.hdr, f.hostLen = *h, hostLen
	return nil
}

// truncate sets the size: growing writes encrypted zeros (there are no
// holes, which an attacker could forge), shrinking cuts the host file.
func (f *openFile) truncate(size int64, sync bool) error {
	switch {
	case size > MaxFileSize:
		return unix.EFBIG
	case size > f.hdr.size:
		z := iovCursor{zero: true}
		_, err := f.writeAt(&z, size-f.hdr.size, f.hdr.size, sync)
		return err
	case size == f.hdr.size:
		return nil
	}
	path := ""
	if !f.unlinked {
		if path = f.path(); len(path) > maxPath {
			return unix.ENAMETOOLONG
		}
	}
	h := f.hdr
	h.gen++
	h.size = size
	h.mtim = nowNanos()
	h.ctim = h.mtim
	if err := f.commit(path, 0, 0, &h, sync); err != nil {
		return err
	}
	f.cache.dropFrom(blocks(size))
	f.entries.drop()
	return nil
}

func (f *openFile) setTimes(atim, mtim vfs.Time) error {
	path := ""
	if !f.unlinked {
		if path = f.path(); len(path) > maxPath {
			return unix.ENAMETOOLONG
		}
	}
	now := nowNanos()
	h := f.hdr
	h.gen++
	h.atim = timeValue(atim, h.atim, now)
	h.mtim = timeValue(mtim, h.mtim, now)
	h.ctim = now
	return f.commit(path, 0, 0, &h, false)
}

func timeValue(t vfs.Time, old, now uint64) uint64 {
	switch t.Mode {
	case vfs.TimeNow:
		return now
	case vfs.TimeSet:
		return t.Nanos
	}
	return old
}

// rebind binds the file to name (host name host) in p, then runs move,
// which renames it there on the host. The new binding goes to the other
// header slot first, made durable: until move happens the file still
// authenticates at its old place (the old slot), after at its new one, so
// a crash anywhere leaves it readable under one of the two names.
func (f *openFile) rebind(p *frame, name, host string, move func() error) error {
	v := f.v
	if v.broken != nil {
		return fmt.Errorf("sealfs: an earlier update failed (%v); open the directory again to recover: %w", v.broken, syscall.EIO)
	}
	h := f.hdr
	h.gen++
	h.ctim = nowNanos()
	other := 1 - f.slot
	s := make([]byte, slotSize)
	encodeSlot(v.hdrMAC, s, fileMagic, &h, binding{&p.id, name})
	if err := pwriteFull(f.fd, s, int64(other)*slotSize); err != nil {
		return err
	}
	if err := fdatasync(f.fd); err != nil {
		return err
	}
	if v.crash("rebound") {
		return errCrash
	}
	if err := move(); err != nil {
		pwriteFull(f.fd, make([]byte, slotSize), int64(other)*slotSize)
		return err
	}
	if v.crash("moved") {
		return errCrash
	}
	pwriteFull(f.fd, make([]byte, slotSize), int64(f.slot)*slotSize)
	f.slot, f.hdr = other, h
	f.parentID, f.name, f.dirPath, f.host = p.id, name, p.path, host
	return nil
}

// blockCache holds a few plaintext blocks of a file, for reads and
// read-modify-writes of partial blocks.
type blockCache struct {
	idx  [cacheBlocks]int64
	data [cacheBlocks][]byte
	n    int // slots in use
	next int // the slot to reuse next
}

const cacheBlocks = 8

func (c *blockCache) get(b int64) []byte {
	for i := range c.n {
		if c.idx[i] == b {
			return c.data[i]
		}
	}
	return nil
}

func (c *blockCache) put(b int64, p []byte) {
	if d := c.get(b); d != nil {
		copy(d, p)
		return
	}
	i := c.n
	if c.n < cacheBlocks {
		c.data[i] = make([]byte, BlockSize)
		c.n++
	} else {
		i = c.next
		c.next = (c.next + 1) % cacheBlocks
	}
	c.idx[i] = b
	copy(c.data[i], p)
}

func (c *blockCache) update(b int64, p []byte) {
	if d := c.get(b); d != nil {
		copy(d, p)
	}
}

func (c *blockCache) dropFrom(b int64) {
	for i := range c.n {
		if c.idx[i] >= b {
			c.idx[i] = -1
		}
	}
}

// iovCursor walks a list of buffers as one, without changing it; zero
// makes it a source of zeros.
type iovCursor struct {
	iovs [][]byte
	i    int
	off  int
	zero bool
}

func iovTotal(iovs [][]byte) int64 {
	n := int64(0)
	for _, b := range iovs {
		n += int64(len(b))
	}
	return n
}

// take fills p from the cursor, which holds at least len(p) more bytes.
func (c *iovCursor) take(p []byte) {
	if c.zero {
		clear(p)
		return
	}
	for len(p) > 0 {
		b := c.iovs[c.i][c.off:]
		n := copy(p, b)
		p = p[n:]
		if c.off += n; c.off == len(c.iovs[c.i]) {
			c.i, c.off = c.i+1, 0
		}
	}
}

// put copies p into the buffers and returns how much fitted.
func (c *iovCursor) put(p []byte) int {
	done := 0
	for len(p) > 0 && c.i < len(c.iovs) {
		n := copy(c.iovs[c.i][c.off:], p)
		p, done = p[n:], done+n
		if c.off += n; c.off == len(c.iovs[c.i]) {
			c.i, c.off = c.i+1, 0
		}
	}
	return done
}

// File is an open regular file of a sealed directory.
type File struct {
	f                         *openFile
	read, write, append, sync bool
	pos                       int64
	closed                    bool
}

var _ vfs.File = (*File)(nil)

func (v *volume) newFile(of *openFile, flags vfs.OpenFlags) *File {
	v.refs++
	return &File{
		f:      of,
		read:   flags&vfs.OpenRead != 0 || flags&vfs.OpenWrite == 0,
		write:  flags&vfs.OpenWrite != 0,
		append: flags&vfs.OpenAppend != 0,
		sync:   flags&(vfs.OpenSync|vfs.OpenDsync) != 0,
	}
}

// lock takes the volume's lock and checks that f is open.
func (f *File) lock() error {
	f.f.v.mu.Lock()
	if f.closed {
		f.f.v.mu.Unlock()
		return unix.EBADF
	}
	return nil
}

func (f *File) unlock() { f.f.v.mu.Unlock() }

// Type implements vfs.Node.
func (f *File) Type() vfs.FileType { return vfs.TypeRegularFile }

// Stat implements vfs.Node: the size is the plaintext's.
func (f *File) Stat() (vfs.Filestat, error) {
	if err := f.lock(); err != nil {
		return vfs.Filestat{}, err
	}
	defer f.unlock()
	return f.f.stat()
}

// SetTimes implements vfs.Node. Times live in the authenticated header.
func (f *File) SetTimes(atim, mtim vfs.Time) error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.unlock()
	if !f.f.rw {
		return f.f.roErr
	}
	return f.f.setTimes(atim, mtim)
}

// Sync implements vfs.Node: everything written before is durable when it
// returns.
func (f *File) Sync() error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.unlock()
	return fsync(f.f.fd)
}

// Datasync implements vfs.Node.
func (f *File) Datasync() error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.unlock()
	return fdatasync(f.f.fd)
}

// Close implements vfs.Node.
func (f *File) Close() error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.unlock()
	f.closed = true
	v := f.f.v
	v.release(f.f)
	return v.unref()
}

// Readv implements vfs.File.
func (f *File) Readv(iovs [][]byte) (int, error) {
	if err := f.lock(); err != nil {
		return 0, err
	}
	defer f.unlock()
	if !f.read {
		return 0, unix.EBADF
	}
	n, err := f.f.readAt(&iovCursor{iovs: iovs}, iovTotal(iovs), f.pos)
	f.pos += n
	return int(n), err
}

// Preadv implements vfs.File.
func (f *File) Preadv(iovs [][]byte, offset int64) (int, error) {
	if err := f.lock(); err != nil {
		return 0, err
	}
	defer f.unlock()
	switch {
	case !f.read:
		return 0, unix.EBADF
	case offset < 0:
		return 0, unix.EINVAL
	}
	n, err := f.f.readAt(&iovCursor{iovs: iovs}, iovTotal(iovs), offset)
	return int(n), err
}

// Writev implements vfs.File.
func (f *File) Writev(iovs [][]byte) (int, error) {
	if err := f.lock(); err != nil {
		return 0, err
	}
	defer f.unlock()
	if !f.write {
		return 0, unix.EBADF
	}
	n := iovTotal(iovs)
	if n == 0 {
		return 0, nil // not even an append moves the position, as Linux
	}
	off := f.pos
	if f.append {
		off = f.f.hdr.size
	}
	w, err := f.f.writeAt(&iovCursor{iovs: iovs}, n, off, f.sync)
	f.pos = off + w
	return int(w), err
}

// Pwritev implements vfs.File. In append mode it appends, whatever the
// offset, as Linux does.
func (f *File) Pwritev(iovs [][]byte, offset int64) (int, error) {
	if err := f.lock(); err != nil {
		return 0, err
	}
	defer f.unlock()
	switch {
	case !f.write:
		return 0, unix.EBADF
	case offset < 0:
		return 0, unix.EINVAL
	}
	if f.append {
		offset = f.f.hdr.size
	}
	n, err := f.f.writeAt(&iovCursor{iovs: iovs}, iovTotal(iovs), offset, f.sync)
	return int(n), err
}

// Seek implements vfs.File.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if err := f.lock(); err != nil {
		return 0, err
	}
	defer f.unlock()
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.pos
	case io.SeekEnd:
		base = f.f.hdr.size
	default:
		return 0, unix.EINVAL
	}
	pos := base + offset
	if (offset > 0 && pos < base) || pos < 0 {
		return 0, unix.EINVAL
	}
	f.pos = pos
	return pos, nil
}

// Truncate implements vfs.File.
func (f *File) Truncate(size int64) error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.unlock()
	switch {
	case !f.write || size < 0:
		return unix.EINVAL // as ftruncate(2) on a descriptor not open for writing
	}
	return f.f.truncate(size, f.sync)
}

// Allocate implements vfs.File: the file grows to offset+length if it is
// shorter, with encrypted zeros.
func (f *File) Allocate(offset, length int64) error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.unlock()
	switch {
	case !f.write:
		return unix.EBADF
	case offset < 0 || length <= 0:
		return unix.EINVAL
	case offset > MaxFileSize-length:
		return unix.EFBIG
	}
	if end := offset + length; end > f.f.hdr.size {
		return f.f.truncate(end, f.sync)
	}
	return nil
}

// Advise implements vfs.File: advice is accepted and has no effect.
func (f *File) Advise(offset, length int64, advice vfs.Advice) error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.unlock()
	if advice > vfs.AdviceNoReuse || offset < 0 || length < 0 {
		return unix.EINVAL
	}
	return nil
}

// SetAppend implements vfs.File.
func (f *File) SetAppend(on bool) error {
	if err := f.lock(); err != nil {
		return err
	}
	defer f.unlock()
	f.append = on
	return nil
}
