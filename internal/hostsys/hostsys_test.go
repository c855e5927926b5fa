//go:build linux

package hostsys

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"donjon.dev/wasi/vfs"
)

func TestDirentReader(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 300 {
		name := fmt.Sprintf("entry-%03d", i)
		want = append(want, name)
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	want = append(want, ".", "..", "sub")
	slices.Sort(want)

	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// A small buffer: many refills.
	r := DirentReader{Size: 512}
	read := func() []string {
		var got []string
		for {
			e, ok, err := r.Next(fd)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				slices.Sort(got)
				return got
			}
			switch {
			case e.Name == "sub" && e.Type != unix.DT_DIR, e.Name == "entry-000" && e.Type != unix.DT_REG:
				t.Errorf("%s has type %d", e.Name, e.Type)
			case e.Ino == 0:
				t.Errorf("%s has inode 0", e.Name)
			}
			got = append(got, e.Name)
		}
	}
	if got := read(); !slices.Equal(got, want) {
		t.Fatalf("read %d entries, want %d: %v", len(got), len(want), got)
	}
	// Unread gives the same entry again.
	r.Reset()
	unix.Seek(fd, 0, 0)
	first, _, _ := r.Next(fd)
	r.Unread()
	if again, _, _ := r.Next(fd); again != first {
		t.Errorf("after Unread: %+v, want %+v", again, first)
	}
	// Reset and a seek start over.
	r.Reset()
	unix.Seek(fd, 0, 0)
	if got := read(); !slices.Equal(got, want) {
		t.Fatalf("after Reset: %d entries", len(got))
	}
}

func TestTimes(t *testing.T) {
	if got := Nanos(unix.Timespec{Sec: -5}); got != 0 {
		t.Errorf("a time before 1970: %d, want 0", got)
	}
	if got := Nanos(unix.Timespec{Sec: 2, Nsec: 5}); got != 2_000_000_005 {
		t.Errorf("Nanos: %d", got)
	}
	ts := Timespecs(vfs.Time{Mode: vfs.TimeSet, Nanos: 3_000_000_007}, vfs.Time{Mode: vfs.TimeNow})
	if ts[0] != (unix.Timespec{Sec: 3, Nsec: 7}) || ts[1].Nsec != unix.UTIME_NOW {
		t.Errorf("Timespecs: %+v", ts)
	}
	if ts := Timespecs(vfs.Time{}, vfs.Time{}); ts[0].Nsec != unix.UTIME_OMIT || ts[1].Nsec != unix.UTIME_OMIT {
		t.Errorf("Timespecs of unset times: %+v", ts)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := Timespecs(vfs.Time{Mode: vfs.TimeSet, Nanos: 1_600_000_000_000_000_123}, vfs.Time{Mode: vfs.TimeSet, Nanos: 1_500_000_000_000_000_456})
	if err := Futimens(int(f.Fd()), &set); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Fstat(int(f.Fd()), &st)
	if Nanos(st.Atim) != 1_600_000_000_000_000_123 || Nanos(st.Mtim) != 1_500_000_000_000_000_456 {
		t.Errorf("times after Futimens: %d %d", Nanos(st.Atim), Nanos(st.Mtim))
	}
}
