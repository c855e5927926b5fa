package main

// End-to-end tests of sealed directories (--dir): the check guests' file
// checks pass on them as on plain ones, links are refused, and nothing the
// guest wrote reaches the host's disk in plaintext.

import (
	"strings"
	"testing"
)

func TestSealedFS(t *testing.T) {
	for _, lang := range languages {
		t.Run(lang, func(t *testing.T) {
			wasm := guest(t, lang)
			key := newDevKey(t)
			host := t.TempDir()
			sealedFS := func(mode ...string) result {
				args := append([]string{"run", "--dev-key", key, "--dir", host + ":/data", wasm, "fs", "/data"}, mode...)
				return donjon(t, "", nil, args...)
			}
			// What a run cut short at the link checks leaves in the work
			// directory: its name, a file name and that file's content.
			needles := []string{"fs." + lang + ".work", "b.txt", "replacement"}

			// The links mode must stop at the first link: the refusal is
			// real. Its work directory stays behind, so there is
			// something to look for on the host.
			r := sealedFS()
			if r.code != 1 || !strings.Contains(r.stdout, "ok two-fds\n") || !strings.Contains(r.stdout, "\nFAIL hardlink: ") ||
				strings.Contains(r.stdout, "ok hardlink") || strings.Contains(r.stdout, "done fs") {
				t.Fatalf("fs with links on a sealed directory should fail at the hardlink check: %v", r)
			}
			if len(sealedEntries(t, host)) == 0 {
				t.Fatalf("the cut-short run left nothing on the host to scan")
			}
			for _, n := range needles {
				if found := hostFilesWith(t, host, n); len(found) != 0 {
					t.Errorf("%q is in plaintext on the host, in %v", n, found)
				}
			}

			// Without links every check passes, the leftover work
			// directory included (it is removed first, through sealfs).
			r = sealedFS("nolinks")
			if r.code != 0 || strings.Contains(r.stdout, "FAIL") || !strings.HasSuffix(r.stdout, "done fs\n") {
				t.Fatalf("fs nolinks on a sealed directory: %v", r)
			}
			for _, check := range []string{"two-fds", "hardlink-refused", "symlink-refused", "set-times", "readdir", "rmdir"} {
				if !strings.Contains(r.stdout, "ok "+check+"\n") {
					t.Errorf("fs nolinks output lacks ok %s: %v", check, r)
				}
			}
			if left := sealedEntries(t, host); len(left) != 0 {
				t.Errorf("files left on the host after the guest removed its work directory: %v", left)
			}
			for _, n := range needles {
				if found := hostFilesWith(t, host, n); len(found) != 0 {
					t.Errorf("%q is in plaintext on the host, in %v", n, found)
				}
			}

			// The same leftovers in a plain directory are found, so the
			// scan above can fail: nolinks stops at hardlink-refused
			// there, as the link is made.
			plain := t.TempDir()
			r = donjon(t, "", nil, "run", "--plain-dir", plain+":/data", wasm, "fs", "/data", "nolinks")
			if r.code != 1 || !strings.Contains(r.stdout, "\nFAIL hardlink-refused: ") {
				t.Fatalf("fs nolinks on a plain directory should fail at hardlink-refused: %v", r)
			}
			for _, n := range needles {
				if len(hostFilesWith(t, plain, n)) == 0 {
					t.Errorf("the scan did not find %q in the plain directory %s", n, plain)
				}
			}
		})
	}
}
