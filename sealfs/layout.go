//go:build linux

package sealfs

import "golang.org/x/sys/unix"

// Where a file's blocks live in its host file (format version 2).
//
// In memory and in the journal a block is one record, nonce || ciphertext
// || tag (recSize bytes). On the host, each block's ciphertext fills a page
// of its own, so that writing a block replaces whole pages and the kernel
// need not read anything first when they are not cached; the nonces and
// tags of a group of groupBlocks blocks are gathered in the page before the
// group's ciphertext:
//
//	[0, hdrSize)        the header slots; zero up to dataStart
//	group g, at dataStart + g*groupSize:
//	  one page          entry j (nonceSize + tagSize bytes) at j*entrySize
//	  groupBlocks pages the ciphertext of blocks g*groupBlocks + j
//
// A file of n blocks ends right after block n-1's page; an empty file
// after its header.
const (
	pageSize    = 4096
	entrySize   = nonceSize + tagSize
	groupBlocks = pageSize / entrySize // 146
	groupSize   = pageSize * (1 + groupBlocks)
	dataStart   = pageSize
)

// entryOffset is where block b's nonce and tag are.
func entryOffset(b int64) int64 {
	return dataStart + b/groupBlocks*groupSize + b%groupBlocks*entrySize
}

// dataOffset is where block b's ciphertext is.
func dataOffset(b int64) int64 {
	return dataStart + b/groupBlocks*groupSize + pageSize + b%groupBlocks*pageSize
}

// hostLength is the exact length of the host file of a file of size bytes.
func hostLength(size int64) int64 {
	n := blocks(size)
	if n == 0 {
		return hdrSize
	}
	return dataOffset(n-1) + pageSize
}

// blockIO is the scratch space of readRecords and writeRecords.
type blockIO struct {
	entries []byte   // maxChunk entries
	iovs    [][]byte // maxChunk ciphertexts
}

func newBlockIO() *blockIO {
	return &blockIO{entries: make([]byte, maxChunk*entrySize), iovs: make([][]byte, 0, maxChunk)}
}

// segments calls fn for each run of blocks from first to first+k-1 that
// lies in one group: j is the run's index in recs, m its length.
func segments(first int64, k int, fn func(b int64, j, m int) error) error {
	for j := 0; j < k; {
		b := first + int64(j)
		m := min(k-j, int(groupBlocks-b%groupBlocks))
		if err := fn(b, j, m); err != nil {
			return err
		}
		j += m
	}
	return nil
}

// entryCache holds the entries of a few groups of an open file, as on the
// host: a read of a block of those groups then needs one system call, not
// two. Only this volume writes the file while it is open, and writeRecords
// keeps the cache in step.
type entryCache struct {
	groups [entryCacheGroups]cachedGroup
	next   int // the slot load replaces next
}

// entryCacheGroups bounds the cache: 64 groups, at most 256 KiB (allocated
// as groups are read), cover the entries of 37 MiB of a file.
const entryCacheGroups = 64

type cachedGroup struct {
	group int64 // the group held, plus one; 0 when empty
	n     int   // entries held
	buf   []byte
}

// lookup returns the entries of m blocks from b if the cache holds them.
func (c *entryCache) lookup(b int64, m int) []byte {
	if c == nil {
		return nil
	}
	g, j := b/groupBlocks+1, int(b%groupBlocks)
	for i := range c.groups {
		if cg := &c.groups[i]; cg.group == g && j+m <= cg.n {
			return cg.buf[j*entrySize : (j+m)*entrySize]
		}
	}
	return nil
}

// load reads the entries of b's group for a file of nblocks blocks into
// the cache.
func (c *entryCache) load(fd int, b, nblocks int64) error {
	g := b / groupBlocks
	want := min(groupBlocks, nblocks-g*groupBlocks)
	if want <= 0 {
		return nil
	}
	for i := range c.groups {
		if c.groups[i].group == g+1 {
			c.groups[i].group = 0 // reloaded below: it held too few
		}
	}
	cg := &c.groups[c.next]
	c.next = (c.next + 1) % entryCacheGroups
	if cg.buf == nil {
		cg.buf = make([]byte, groupBlocks*entrySize)
	}
	cg.group = 0
	got, err := preadFull(fd, cg.buf[:want*entrySize], entryOffset(g*groupBlocks))
	if err != nil {
		return err
	}
	cg.group, cg.n = g+1, got/entrySize
	return nil
}

// update records entries of m blocks from b, just written, in the cached
// group they belong to, if any; one they would leave with a gap is
// dropped.
func (c *entryCache) update(b int64, m int, entries []byte) {
	if c == nil {
		return
	}
	g, j := b/groupBlocks+1, int(b%groupBlocks)
	for i := range c.groups {
		cg := &c.groups[i]
		switch {
		case cg.group != g:
		case j > cg.n:
			cg.group = 0
		default:
			copy(cg.buf[j*entrySize:], entries)
			cg.n = max(cg.n, j+m)
		}
	}
}

// drop empties the cache.
func (c *entryCache) drop() {
	if c != nil {
		for i := range c.groups {
			c.groups[i].group = 0
		}
	}
}

// readRecords reads the k records of blocks first.. from fd into recs and
// tells how many of them the host file holds whole. cache, when not nil,
// serves and keeps the entries of a file of nblocks blocks.
func (bio *blockIO) readRecords(fd int, recs []byte, first int64, k int, cache *entryCache, nblocks int64) (int, error) {
	whole := 0
	short := false
	err := segments(first, k, func(b int64, j, m int) error {
		if short {
			return nil
		}
		entries := cache.lookup(b, m)
		if entries == nil && cache != nil {
			if err := cache.load(fd, b, nblocks); err != nil {
				return err
			}
			entries = cache.lookup(b, m)
		}
		got := len(entries)
		if entries == nil {
			entries = bio.entries[:m*entrySize]
			var err error
			if got, err = preadFull(fd, entries, entryOffset(b)); err != nil {
				return err
			}
		}
		bio.iovs = bio.iovs[:0]
		for i := j; i < j+m; i++ {
			bio.iovs = append(bio.iovs, recs[i*recSize+nonceSize:(i+1)*recSize-tagSize])
		}
		data, err := preadvFull(fd, bio.iovs, dataOffset(b))
		if err != nil {
			return err
		}
		n := min(got/entrySize, data/BlockSize)
		for i := range n {
			r, e := recs[(j+i)*recSize:(j+i+1)*recSize], entries[i*entrySize:(i+1)*entrySize]
			copy(r[:nonceSize], e[:nonceSize])
			copy(r[recSize-tagSize:], e[nonceSize:])
		}
		whole += n
		short = n < m
		return nil
	})
	return whole, err
}

// writeRecords writes the k records of blocks first.. in recs to fd, and
// keeps cache, when not nil, in step.
func (bio *blockIO) writeRecords(fd int, recs []byte, first int64, k int, cache *entryCache) error {
	return segments(first, k, func(b int64, j, m int) error {
		entries := bio.entries[:m*entrySize]
		bio.iovs = bio.iovs[:0]
		for i := range m {
			r, e := recs[(j+i)*recSize:(j+i+1)*recSize], entries[i*entrySize:(i+1)*entrySize]
			copy(e[:nonceSize], r[:nonceSize])
			copy(e[nonceSize:], r[recSize-tagSize:])
			bio.iovs = append(bio.iovs, r[nonceSize:recSize-tagSize])
		}
		if err := pwritevFull(fd, bio.iovs, dataOffset(b)); err != nil {
			cache.drop()
			return err
		}
		if err := pwriteFull(fd, entries, entryOffset(b)); err != nil {
			cache.drop()
			return err
		}
		cache.update(b, m, entries)
		return nil
	})
}

// preadvFull reads into iovs from off until they are full or the file
// ends, and returns how many bytes it read.
func preadvFull(fd int, iovs [][]byte, off int64) (int, error) {
	total := 0
	for len(iovs) > 0 {
		n, err := unix.Preadv(fd, iovs, off)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return total, err
		case n <= 0:
			return total, nil
		}
		total, off = total+n, off+int64(n)
		iovs = consumed(iovs, n)
	}
	return total, nil
}

// pwritevFull writes all of iovs at off.
func pwritevFull(fd int, iovs [][]byte, off int64) error {
	for len(iovs) > 0 {
		n, err := unix.Pwritev(fd, iovs, off)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n <= 0:
			return unix.EIO
		}
		off += int64(n)
		iovs = consumed(iovs, n)
	}
	return nil
}

// consumed drops the first n bytes of iovs, in place.
func consumed(iovs [][]byte, n int) [][]byte {
	for n > 0 && len(iovs) > 0 {
		if n < len(iovs[0]) {
			iovs[0] = iovs[0][n:]
			return iovs
		}
		n -= len(iovs[0])
		iovs = iovs[1:]
	}
	return iovs
}
