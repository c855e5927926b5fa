// Command guest is a WASI preview 1 program for the wasi package's
// integration tests, built with GOOS=wasip1 GOARCH=wasm when they run.
// Its first argument picks what it does; it prints what it sees.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: guest fs|stdin|sleep|env|exit")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "fs":
		fsTest()
	case "stdin":
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			fmt.Println(strings.ToUpper(in.Text()))
		}
		fmt.Println("EOF", in.Err())
	case "sleep":
		start := time.Now()
		time.Sleep(20 * time.Millisecond)
		fmt.Println("slept at least 20ms:", time.Since(start) >= 20*time.Millisecond)
	case "env":
		fmt.Println(strings.Join(os.Args[2:], "|"))
		env := os.Environ()
		sort.Strings(env)
		fmt.Println(strings.Join(env, "|"))
	case "exit":
		os.Exit(3)
	}
}

func check(what string, err error) {
	if err != nil {
		fmt.Printf("%s: %v\n", what, err)
		os.Exit(1)
	}
}

// errname names the WASI errno behind err.
func errname(err error) string {
	var e syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, syscall.ENOTCAPABLE):
		return "ENOTCAPABLE"
	case errors.As(err, &e):
		return e.Error()
	}
	return err.Error()
}

func fsTest() {
	check("write", os.WriteFile("/data/hello.txt", []byte("hello\n"), 0o644))
	b, err := os.ReadFile("/data/hello.txt")
	check("read", err)
	fmt.Printf("read %q\n", b)
	check("mkdir", os.MkdirAll("/data/a/b", 0o755))
	check("rename", os.Rename("/data/hello.txt", "/data/a/b/hi.txt"))
	check("symlink", os.Symlink("a/b/hi.txt", "/data/link"))
	target, err := os.Readlink("/data/link")
	check("readlink", err)
	fmt.Println("link ->", target)
	fi, err := os.Stat("/data/link")
	check("stat", err)
	fmt.Println("size through link:", fi.Size(), fi.Mode().IsRegular())
	f, err := os.OpenFile("/data/a/b/hi.txt", os.O_APPEND|os.O_WRONLY, 0)
	check("open append", err)
	_, err = f.WriteString("again\n")
	check("append", err)
	f.Close()
	ents, err := os.ReadDir("/data")
	check("readdir", err)
	for _, e := range ents {
		fmt.Println("entry", e.Name(), e.IsDir(), e.Type()&os.ModeSymlink != 0)
	}
	b, _ = os.ReadFile("/data/link")
	fmt.Printf("through link %q\n", b)

	// The way out is shut.
	check("symlink out", os.Symlink("../..", "/data/out"))
	_, err = os.Open("/data/out/etc/passwd")
	fmt.Println("open through a link out:", errname(err))
	_, err = os.Stat("/data/out")
	fmt.Println("stat a link out:", errname(err))
	_, err = os.Lstat("/data/out")
	fmt.Println("lstat a link out:", errname(err))
	err = os.Symlink("/etc/passwd", "/data/abs")
	fmt.Println("symlink to an absolute path:", errname(err))
	_, err = os.Open("/etc/passwd") // Go finds no preopen for it: EBADF
	fmt.Println("open outside every preopen:", errname(err))
	_, err = os.Open("/data/missing")
	fmt.Println("open missing:", errname(err))
	err = os.Remove("/data/a")
	fmt.Println("remove non-empty:", errname(err))
	check("remove all", os.RemoveAll("/data/a"))
	_, err = os.Stat("/data/a")
	fmt.Println("after remove all:", errname(err))

	w, err := os.Create("/data/big")
	check("create", err)
	n, err := io.Copy(w, io.LimitReader(zeros{}, 1<<20))
	check("copy", err)
	w.Close()
	fmt.Println("wrote", n)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
