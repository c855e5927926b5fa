//go:build linux

package wasi

import (
	"io"

	"donjon.dev/wasi/vfs"
)

// dirCursor is where fd_readdir is in a directory. Cookies count entries:
// entry i (from 0, "." and ".." first) has d_next i+1, and reading from
// cookie c starts at entry c. Reading on from the cookie where the last
// call stopped continues the directory stream; any other cookie reads the
// directory again from the start and skips.
type dirCursor struct {
	next  uint64       // cookie of the next entry to deliver
	ents  []vfs.Dirent // read from the directory, not delivered yet
	pos   int          // next entry in ents
	eof   bool
	batch []vfs.Dirent
}

// direntBatch is how many entries one refill reads.
const direntBatch = 64

func newDirCursor(d vfs.Dir) (*dirCursor, error) {
	if err := d.Rewind(); err != nil {
		return nil, err
	}
	st, err := d.Stat()
	if err != nil {
		return nil, err
	}
	// ".." of a capability's root is the root itself, as "/.." is "/": the
	// guest cannot reach anything above.
	c := &dirCursor{batch: make([]vfs.Dirent, direntBatch)}
	c.ents = append(c.ents[:0],
		vfs.Dirent{Name: ".", Ino: st.Ino, Type: vfs.TypeDirectory},
		vfs.Dirent{Name: "..", Ino: st.Ino, Type: vfs.TypeDirectory})
	return c, nil
}

// peek returns the next entry, reading more of the directory if needed.
func (c *dirCursor) peek(d vfs.Dir) (vfs.Dirent, bool, error) {
	if c.pos == len(c.ents) {
		if c.eof {
			return vfs.Dirent{}, false, nil
		}
		n, err := d.ReadDir(c.batch)
		if err == io.EOF || (err == nil && n == 0) {
			c.eof = true
			return vfs.Dirent{}, false, nil
		}
		if err != nil {
			return vfs.Dirent{}, false, err
		}
		c.ents, c.pos = append(c.ents[:0], c.batch[:n]...), 0
	}
	return c.ents[c.pos], true, nil
}

func (c *dirCursor) advance() {
	c.pos++
	c.next++
}

func (s *System) fdReaddir(m guestMem, fd, buf, bufLen uint32, cookie uint64, usedPtr uint32) errno {
	e, errno := s.lookup(fd)
	switch {
	case errno != errnoSuccess:
		return errno
	case e.dir == nil:
		return errnoNotdir
	case e.base&rightFdReaddir == 0:
		return errnoNotcapable
	}
	out, ok := m.view(buf, bufLen)
	if !ok {
		return errnoFault
	}
	used, ok := m.view(usedPtr, 4)
	if !ok {
		return errnoFault
	}
	c := e.cursor
	if c == nil || c.next != cookie {
		var err error
		if c, err = newDirCursor(e.dir); err != nil {
			return errnoOf(err)
		}
		e.cursor = c
		for c.next < cookie {
			if _, ok, err := c.peek(e.dir); err != nil {
				return errnoOf(err)
			} else if !ok {
				break
			}
			c.advance()
		}
	}
	// Fill the buffer; the last entry may not fit, and is then cut short
	// (bufused == buf_len tells the guest to read on from its cookie with a
	// larger buffer).
	n := 0
	for n < len(out) {
		ent, ok, err := c.peek(e.dir)
		if err != nil {
			if n == 0 {
				return errnoOf(err)
			}
			break
		}
		if !ok {
			break
		}
		w := putDirent(out[n:], c.next+1, &ent)
		n += w
		if w < direntSize+len(ent.Name) {
			break
		}
		c.advance()
	}
	le.PutUint32(used, uint32(n))
	return errnoSuccess
}

// putDirent writes a dirent and its name to b, as much as fits, and returns
// the bytes written.
func putDirent(b []byte, next uint64, ent *vfs.Dirent) int {
	var hdr [direntSize]byte
	le.PutUint64(hdr[0:], next)
	le.PutUint64(hdr[8:], ent.Ino)
	le.PutUint32(hdr[16:], uint32(len(ent.Name)))
	hdr[20] = byte(ent.Type)
	n := copy(b, hdr[:])
	if n < direntSize {
		return n
	}
	return n + copy(b[n:], ent.Name)
}
