// Command notes-go keeps a small notes file in a directory its keep gives it
// (/data by default) and shows that what a workload writes there survives
// from one run to the next.
//
//	notes-go add TEXT...   append a note, then list all notes
//	notes-go list          list all notes
//
// Build it for WebAssembly (WASI preview 1) with
//
//	GOOS=wasip1 GOARCH=wasm go build -o notes-go.wasm ./examples/notes-go
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const usage = `usage: notes-go add TEXT... | list
Notes live in $NOTES_DIR/notes.txt ($NOTES_DIR defaults to /data, the
directory Donjon.toml gives the keep).`

func main() {
	dir := os.Getenv("NOTES_DIR")
	if dir == "" {
		dir = "/data"
	}
	notes := filepath.Join(dir, "notes.txt")

	if len(os.Args) < 2 {
		fail(usage)
	}
	switch os.Args[1] {
	case "add":
		text := strings.Join(os.Args[2:], " ")
		if err := add(notes, text); err != nil {
			fail(err.Error())
		}
		if err := list(notes); err != nil {
			fail(err.Error())
		}
	case "list":
		if err := list(notes); err != nil {
			fail(err.Error())
		}
	default:
		fail(usage)
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "notes-go:", msg)
	os.Exit(1)
}

// add appends one note as one line.
func add(notes, text string) error {
	// One note is one line: fold line breaks into spaces.
	text = strings.Join(strings.Fields(text), " ")
	if text == "" {
		return errors.New("nothing to add: give the note's text after \"add\"")
	}
	// $NOTES_DIR may name a directory inside the mounted one: make it.
	if err := os.MkdirAll(filepath.Dir(notes), 0o700); err != nil {
		return fmt.Errorf("make the notes directory (is a directory mounted at %s?): %w", filepath.Dir(notes), err)
	}
	f, err := os.OpenFile(notes, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the notes file (is a directory mounted at %s?): %w", filepath.Dir(notes), err)
	}
	if _, err := fmt.Fprintln(f, text); err != nil {
		f.Close()
		return fmt.Errorf("write note: %w", err)
	}
	// The note must be on disk before we say it was added.
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync notes file: %w", err)
	}
	return f.Close()
}

// list prints every note, numbered from 1.
func list(notes string) error {
	f, err := os.Open(notes)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Println("no notes yet")
		return nil
	}
	if err != nil {
		return fmt.Errorf("open the notes file (is a directory mounted at %s?): %w", filepath.Dir(notes), err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	n := 0
	for scanner.Scan() {
		n++
		fmt.Printf("%d. %s\n", n, scanner.Text())
	}
	if err := scanner.Err(); err != nil {
		return fmt.Errorf("read notes: %w", err)
	}
	plural := "s"
	if n == 1 {
		plural = ""
	}
	fmt.Printf("(%d note%s in %s)\n", n, plural, notes)
	return nil
}
