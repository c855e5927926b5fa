package main

// End-to-end tests of sealed directories: what the guest wrote is on the
// host only encrypted, comes back after a restart to the same workload and
// to no other, and any change made on the host is an I/O error to the
// guest.

import (
	"bytes"
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"donjon.dev/internal/testguest"
)

// newDevKey writes a development sealing secret for --dev-key.
func newDevKey(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "dev.key")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(name, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// hostFilesWith lists the files under dir whose raw bytes or names contain
// needle.
func hostFilesWith(t *testing.T, dir, needle string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), needle) {
			found = append(found, path)
			return nil
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(needle)) {
				found = append(found, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// sealedEntries lists the host files that hold sealed entries (not the
// volume's own dot files), in walk order.
func sealedEntries(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, path)
		}
		return nil
	})
	return files
}

// TestSealedDirRoundTrip: notes written in a sealed directory are back
// after a restart of the same workload, the host holds none of their text,
// and the nil backend says which insecure key sealed them.
func TestSealedDirRoundTrip(t *testing.T) {
	notes := testguest.Build(t, "examples/notes-go")
	dir, key := t.TempDir(), newDevKey(t)
	run := func(args ...string) result {
		return donjon(t, "", nil, append([]string{"run", "--dev-key", key, "--dir", dir + ":/data", notes}, args...)...)
	}
	for _, text := range []string{"the first sealed note", "the second sealed note"} {
		if r := run("add", text); r.code != 0 {
			t.Fatalf("add: %v", r)
		}
	}
	r := run("list")
	if r.code != 0 || !strings.Contains(r.stdout, "1. the first sealed note\n2. the second sealed note\n") {
		t.Fatalf("list after restarts: %v", r)
	}
	for _, want := range []string{nilWarning, "sealed directories are keyed with the development key " + key} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, r.stderr)
		}
	}
	for _, needle := range []string{"sealed note", "notes.txt", "notes"} {
		if got := hostFilesWith(t, dir, needle); len(got) != 0 {
			t.Errorf("%q is in plaintext on the host: %v", needle, got)
		}
	}
	// The same scan finds the text in a plain directory.
	plain := t.TempDir()
	if r := donjon(t, "", nil, "run", "--plain-dir", plain+":/data", notes, "add", "a plain note"); r.code != 0 || strings.Contains(r.stderr, "sealed directories") {
		t.Fatalf("plain: %v", r)
	}
	if got := hostFilesWith(t, plain, "a plain note"); len(got) != 1 {
		t.Errorf("the plain note is not on the host as written: %v", got)
	}
}

// TestSealedDirDefaultDevKey: without --dev-key the nil backend creates its
// development key in the user's config directory once, says so, and uses
// it from then on.
func TestSealedDirDefaultDevKey(t *testing.T) {
	notes := testguest.Build(t, "examples/notes-go")
	dir, home := t.TempDir(), t.TempDir()
	env := []string{"HOME=" + home}
	key := filepath.Join(home, ".config", "donjon", "nil-dev-sealing.key")
	r := donjon(t, "", env, "run", "--dir", dir+":/data", notes, "add", "kept")
	if r.code != 0 || !strings.Contains(r.stderr, "created the nil backend's INSECURE development sealing key "+key) {
		t.Fatalf("first run: %v", r)
	}
	if info, err := os.Stat(key); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}
	r = donjon(t, "", env, "run", "--dir", dir+":/data", notes, "list")
	if r.code != 0 || strings.Contains(r.stderr, "created") || !strings.Contains(r.stdout, "1. kept") {
		t.Fatalf("second run: %v", r)
	}
	// --dev-key is the nil backend's alone, and plain dirs need no key.
	other := t.TempDir()
	r = donjon(t, "", []string{"HOME=" + other}, "run", "--plain-dir", t.TempDir()+":/data", notes, "list")
	if _, err := os.Stat(filepath.Join(other, ".config")); r.code != 0 || err == nil {
		t.Errorf("a plain dir created a development key: %v", r)
	}
}

// TestSealedDirWrongKey: another module, another guest path or another key
// cannot open a sealed directory, and the data stays intact for the right
// one.
func TestSealedDirWrongKey(t *testing.T) {
	notes := testguest.Build(t, "examples/notes-go")
	dir, key := t.TempDir(), newDevKey(t)
	if r := donjon(t, "", nil, "run", "--dev-key", key, "--dir", dir+":/data", notes, "add", "mine"); r.code != 0 {
		t.Fatal(r)
	}
	for name, args := range map[string][]string{
		"another module":     {"--dev-key", key, "--dir", dir + ":/data", guest(t, "go"), "fs", "/data"},
		"another guest path": {"--dev-key", key, "--dir", dir + ":/notes", "-e", "NOTES_DIR=/notes", notes, "list"},
		"another key":        {"--dev-key", newDevKey(t), "--dir", dir + ":/data", notes, "list"},
	} {
		r := donjon(t, "", nil, append([]string{"run"}, args...)...)
		if r.code != exitDonjon || !strings.Contains(r.stderr, "wrong key for the sealed directory "+dir) {
			t.Errorf("%s: %v", name, r)
		}
	}
	// A plain dir over sealed data is plain: the guest sees ciphertext
	// names, not the notes.
	r := donjon(t, "", nil, "run", "--plain-dir", dir+":/data", notes, "list")
	if r.code != 0 || !strings.Contains(r.stdout, "no notes yet") {
		t.Errorf("plain view of a sealed dir: %v", r)
	}
	r = donjon(t, "", nil, "run", "--dev-key", key, "--dir", dir+":/data", notes, "list")
	if r.code != 0 || !strings.Contains(r.stdout, "1. mine") {
		t.Fatalf("the right workload after refusals: %v", r)
	}
}

// TestSealedDirTampering: each kind of change to a sealed file on the host
// is an I/O error to the guest, never other content, and undoing it
// restores the data.
func TestSealedDirTampering(t *testing.T) {
	notes := testguest.Build(t, "examples/notes-go")
	dir, key := t.TempDir(), newDevKey(t)
	notesIn := func(sub string, args ...string) result {
		return donjon(t, "", nil, append([]string{"run", "--dev-key", key, "--dir", dir + ":/data", "-e", "NOTES_DIR=/data/" + sub, notes}, args...)...)
	}
	for _, sub := range []string{"a", "b"} {
		if r := notesIn(sub, "add", "note in "+sub); r.code != 0 {
			t.Fatalf("add: %v", r)
		}
	}
	// Each directory holds one entry file: a's and b's notes.
	entries := sealedEntries(t, dir)
	if len(entries) != 2 {
		t.Fatalf("sealed entries on the host: %v", entries)
	}
	var fileA, fileB string
	for _, e := range entries {
		// Find which is which by breaking one and asking.
		orig, _ := os.ReadFile(e)
		os.WriteFile(e, orig[:len(orig)-1], 0o600)
		if r := notesIn("a", "list"); r.code != 0 {
			fileA = e
		} else {
			fileB = e
		}
		os.WriteFile(e, orig, 0o600)
	}
	if fileA == "" || fileB == "" {
		t.Fatalf("could not tell the entries apart: %v", entries)
	}
	origA, _ := os.ReadFile(fileA)
	origB, _ := os.ReadFile(fileB)
	flipped := func(at int) []byte {
		b := bytes.Clone(origA)
		b[at] ^= 0x40
		return b
	}
	for name, content := range map[string][]byte{
		"a bit flipped in the data":   flipped(len(origA) - 20),
		"a bit flipped in the header": flipped(40),
		"truncated":                   origA[:len(origA)-5],
		"extended":                    append(bytes.Clone(origA), make([]byte, 4096)...),
		"swapped with another file":   origB,
		"emptied":                     nil,
	} {
		if err := os.WriteFile(fileA, content, 0o600); err != nil {
			t.Fatal(err)
		}
		r := notesIn("a", "list")
		if r.code == 0 || !strings.Contains(r.stderr, "/data/a/notes.txt: I/O error") || strings.Contains(r.stdout, "note in") {
			t.Errorf("%s: want an I/O error and no note, got %v", name, r)
		}
	}
	// Moving a file into another directory, under its own host name.
	os.WriteFile(fileA, origA, 0o600)
	moved := filepath.Join(filepath.Dir(fileB), filepath.Base(fileA))
	if err := os.Rename(fileA, moved); err != nil {
		t.Fatal(err)
	}
	if r := notesIn("b", "list"); r.code != 0 || !strings.Contains(r.stdout, "1. note in b\n(1 note") {
		t.Errorf("b after a foreign file was moved in: %v", r)
	}
	if r := notesIn("a", "list"); r.code != 0 || strings.Contains(r.stdout, "note in") {
		t.Errorf("a after its file was moved out: %v", r)
	}
	os.Rename(moved, fileA)
	for _, sub := range []string{"a", "b"} {
		if r := notesIn(sub, "list"); r.code != 0 || !strings.Contains(r.stdout, "1. note in "+sub+"\n") {
			t.Errorf("%s after undoing every change: %v", sub, r)
		}
	}
}

// TestSealedDirIsNotPlaintext: a keep with a sealed directory states no
// plaintext, so a steward with the default rule certifies it; one with a
// plain directory states plaintext and is refused.
func TestSealedDirIsNotPlaintext(t *testing.T) {
	notes := testguest.Build(t, "examples/notes-go")
	s := startSteward(t, devPolicy, nil, nil)
	r := donjon(t, "", nil, "run", "--steward", s.url, "--dev-key", newDevKey(t), "--dir", t.TempDir()+":/data", notes, "add", "x")
	if r.code != 0 {
		t.Fatalf("sealed dir refused: %v", r)
	}
	r = donjon(t, "", nil, "run", "--steward", s.url, "--plain-dir", t.TempDir()+":/data", notes, "add", "x")
	if r.code != exitDonjon || !strings.Contains(r.stderr, "workload.plaintext") {
		t.Fatalf("plain dir certified without allow_plaintext: %v", r)
	}
}
