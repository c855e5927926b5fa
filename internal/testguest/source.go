package testguest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// lang is a guest's source language.
type lang int

const (
	langGo lang = iota + 1
	langC
	langRust
)

func (l lang) String() string {
	switch l {
	case langGo:
		return "go"
	case langC:
		return "c"
	case langRust:
		return "rust"
	}
	return "unknown"
}

// source is a resolved guest: its language, what the compiler is given
// (a package directory relative to the module root for Go, a file for C and
// Rust), and every file whose content decides the result.
type source struct {
	name  string
	lang  lang
	input string   // relative to the module root
	files []string // relative to the module root, sorted
}

const guestsDir = "testdata/guests"

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$`)

// resolve maps a guest name to its source under root.
func resolve(root, name string) (source, error) {
	if !validName.MatchString(name) {
		return source{}, fmt.Errorf("guest name %q is not valid: use lower-case path elements such as \"c/guest\" or \"examples/hello-go\"", name)
	}
	src, ok := lookup(root, name)
	if !ok {
		return source{}, unknownGuest(root, name)
	}
	return src, nil
}

// lookup finds the source of a valid guest name, if there is one.
func lookup(root, name string) (source, bool) {
	first, rest, _ := strings.Cut(name, "/")
	switch {
	case first == "go":
		return goSource(root, name, filepath.ToSlash(filepath.Join(guestsDir, name)))
	case first == "c" && rest != "" && !strings.Contains(rest, "/"):
		return fileSource(root, name, langC, guestsDir+"/c/"+rest+".c")
	case first == "rust" && rest != "" && !strings.Contains(rest, "/"):
		return fileSource(root, name, langRust, guestsDir+"/rust/"+rest+".rs")
	case first == "examples" && rest != "" && !strings.Contains(rest, "/"):
		dir := "examples/" + rest
		if goFiles(root, dir) != nil {
			return goSource(root, name, dir)
		}
		if exists(filepath.Join(root, dir, "main.c")) {
			return fileSource(root, name, langC, dir+"/main.c")
		}
		if exists(filepath.Join(root, dir, "main.rs")) {
			return fileSource(root, name, langRust, dir+"/main.rs")
		}
	}
	return source{}, false
}

func unknownGuest(root, name string) error {
	known, err := listGuests(root)
	if err != nil {
		return fmt.Errorf("no guest named %q (and listing the guests failed: %w)", name, err)
	}
	return fmt.Errorf("no guest named %q; known guests: %s", name, strings.Join(known, ", "))
}

func goSource(root, name, dir string) (source, bool) {
	files := goFiles(root, dir)
	if files == nil {
		return source{}, false
	}
	// go.mod's go line changes language semantics, so it is an input too.
	files = append(files, "go.mod")
	slices.Sort(files)
	return source{name: name, lang: langGo, input: "./" + dir, files: files}, true
}

func fileSource(root, name string, l lang, file string) (source, bool) {
	if !exists(filepath.Join(root, file)) {
		return source{}, false
	}
	return source{name: name, lang: l, input: file, files: []string{file}}, true
}

// goFiles lists the non-test .go files directly in dir, or nil.
func goFiles(root, dir string) []string {
	entries, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		return nil
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			files = append(files, dir+"/"+n)
		}
	}
	return files
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// listGuests finds every guest under root.
func listGuests(root string) ([]string, error) {
	var names []string
	goRoot := filepath.Join(root, guestsDir, "go")
	err := filepath.WalkDir(goRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(filepath.Join(root, guestsDir), path)
		if err != nil {
			return err
		}
		if goFiles(root, filepath.ToSlash(filepath.Join(guestsDir, rel))) != nil {
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list Go guests: %w", err)
	}
	for _, kind := range []struct{ dir, ext string }{{"c", ".c"}, {"rust", ".rs"}} {
		entries, err := os.ReadDir(filepath.Join(root, guestsDir, kind.dir))
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("list %s guests: %w", kind.dir, err)
		}
		for _, e := range entries {
			if base, ok := strings.CutSuffix(e.Name(), kind.ext); ok && e.Type().IsRegular() {
				names = append(names, kind.dir+"/"+base)
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "examples"))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list examples: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := "examples/" + e.Name()
		if _, ok := lookup(root, name); ok && validName.MatchString(name) {
			names = append(names, name)
		}
	}
	return names, nil
}
