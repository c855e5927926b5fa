package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// runEscape tries to reach files outside dir, which must be the root of a
// preopened directory, and returns 1 if any attempt succeeded.
//
// Go's wasip1 port cleans paths itself before they reach the host ("d/../.."
// becomes "/"), so each attempt is made twice where it can be: through the
// os package, and with syscall.Openat relative to an open directory, which
// hands the path to the host unchanged.
func runEscape(dir string) int {
	d, err := os.Open(dir)
	if err != nil {
		failf("escape-setup", "open %s: %v", dir, err)
	}
	defer d.Close()
	dirFD := int(d.Fd())
	escaped := 0

	attempt := func(name string, err error) {
		if err != nil {
			fmt.Printf("refused %s\n", name)
			return
		}
		fmt.Printf("ESCAPED %s\n", name)
		escaped++
	}
	openPath := func(p string) error {
		f, err := os.Open(p)
		if err == nil {
			f.Close()
		}
		return err
	}
	openAt := func(p string, flags int) error {
		fd, err := syscall.Openat(dirFD, p, flags, 0)
		if err == nil {
			syscall.Close(fd)
		}
		return err
	}

	attempt("dotdot", openPath(filepath.Join(dir, "..", "..", "etc", "passwd")))
	attempt("dotdot-openat", openAt("../../etc/passwd", syscall.O_RDONLY))
	attempt("dotdot-dir-openat", openAt("..", syscall.O_RDONLY|syscall.O_DIRECTORY))
	attempt("absolute", openPath("/etc/passwd"))
	attempt("absolute-openat", openAt("/etc/passwd", syscall.O_RDONLY))

	links := []struct{ name, target, through string }{
		{"symlink-abs", "/etc", "passwd"},
		{"symlink-up", "../../", "etc/passwd"},
		{"symlink-deep", "../../../../../../../../../../../../../../../../etc", "passwd"},
	}
	for _, l := range links {
		link := filepath.Join(dir, "escape-"+l.name)
		os.Remove(link) // left over from an earlier run, if any
		if err := os.Symlink(l.target, link); err != nil {
			// Refusing to create a link that points out is a refusal too.
			attempt(l.name+"-create", err)
			continue
		}
		attempt(l.name, openPath(filepath.Join(link, l.through)))
		attempt(l.name+"-openat", openAt("escape-"+l.name+"/"+l.through, syscall.O_RDONLY))
		attempt(l.name+"-dir-openat", openAt("escape-"+l.name, syscall.O_RDONLY|syscall.O_DIRECTORY))
		if err := os.Remove(link); err != nil {
			failf("escape-cleanup", "remove %s: %v", link, err)
		}
	}

	if escaped > 0 {
		fmt.Printf("FAIL escape: %d attempts escaped\n", escaped)
		return 1
	}
	done("escape")
	return 0
}
