// Command kv-go is a small key-value store on BuntDB
// (github.com/tidwall/buntdb), a real embedded database nobody here wrote. Its
// database file lives in the directory its keep gives it: sealed, by default,
// so the host stores only ciphertext, yet the store reads it back at the next
// run as if it were a plain file.
//
//	kv-go set KEY VALUE     store a value
//	kv-go get KEY           print it (exit 1 if there is none)
//	kv-go del KEY           remove it (exit 1 if there is none)
//	kv-go list              print every key=value, sorted by key
//	kv-go fill N [FIRST]    write keys key<FIRST>..key<FIRST+N-1> in one transaction
//	kv-go check N           verify key000000..key<N-1>, and every other fill key present
//	kv-go shrink            rewrite the file without dead entries (BuntDB's Shrink)
//
// The database is $KV_DB, or -db PATH, default /data/kv.db. Build it for
// WebAssembly (WASI preview 1) with
//
//	GOOS=wasip1 GOARCH=wasm go build -o kv-go.wasm ./examples/kv-go
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tidwall/buntdb"
)

const usage = `usage: kv-go [-db PATH] COMMAND
  set KEY VALUE | get KEY | del KEY | list
  fill N [FIRST] | check N | shrink
The database is -db, else $KV_DB, else /data/kv.db.`

func main() {
	path := os.Getenv("KV_DB")
	if path == "" {
		path = "/data/kv.db"
	}
	flag.StringVar(&path, "db", path, "the database file")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, usage) }
	flag.Parse()
	args := flag.Args()
	// The fewest and most arguments each command takes: check them before
	// opening the database.
	arity := map[string][2]int{"set": {2, 2}, "get": {1, 1}, "del": {1, 1}, "list": {0, 0},
		"fill": {1, 2}, "check": {1, 1}, "shrink": {0, 0}}
	var a [2]int
	ok := len(args) > 0
	if ok {
		a, ok = arity[args[0]]
	}
	if !ok || len(args)-1 < a[0] || len(args)-1 > a[1] {
		flag.Usage()
		os.Exit(2)
	}

	db, err := buntdb.Open(path)
	if err != nil {
		fail(fmt.Errorf("open %s (is a directory mounted there?): %w", path, err))
	}
	// Every committed transaction is fsynced before the command reports it.
	var cfg buntdb.Config
	if err := db.ReadConfig(&cfg); err != nil {
		fail(err)
	}
	cfg.SyncPolicy = buntdb.Always
	if err := db.SetConfig(cfg); err != nil {
		fail(err)
	}
	err = run(db, args[0], args[1:])
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kv-go:", err)
	os.Exit(1)
}

// run carries out one command on an open database.
func run(db *buntdb.DB, cmd string, args []string) error {
	switch cmd {
	case "set":
		return db.Update(func(tx *buntdb.Tx) error {
			_, _, err := tx.Set(args[0], args[1], nil)
			return err
		})
	case "get":
		return db.View(func(tx *buntdb.Tx) error {
			v, err := tx.Get(args[0])
			if err != nil {
				return notFound(args[0], err)
			}
			fmt.Println(v)
			return nil
		})
	case "del":
		return db.Update(func(tx *buntdb.Tx) error {
			_, err := tx.Delete(args[0])
			return notFound(args[0], err)
		})
	case "list":
		return db.View(func(tx *buntdb.Tx) error {
			// Ascend on the built-in key order: sorted by key.
			return tx.Ascend("", func(k, v string) bool {
				fmt.Printf("%s=%s\n", k, v)
				return true
			})
		})
	case "fill":
		count, err := number(args[0])
		first := 0
		if err == nil && len(args) == 2 {
			first, err = number(args[1])
		}
		if err != nil {
			return err
		}
		err = db.Update(func(tx *buntdb.Tx) error {
			for i := first; i < first+count; i++ {
				if _, _, err := tx.Set(fillKey(i), fillValue(i), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			fmt.Printf("wrote %d keys\n", count)
		}
		return err
	case "check":
		count, err := number(args[0])
		if err != nil {
			return err
		}
		return check(db, count)
	case "shrink":
		return db.Shrink()
	}
	return nil
}

// fillKey and fillValue are what fill writes: values anyone can recompute,
// 512 hex digits long so that a fill of thousands of keys writes megabytes.
func fillKey(i int) string { return fmt.Sprintf("key%06d", i) }

func fillValue(i int) string {
	var b []byte
	for part := range 8 {
		sum := sha256.Sum256(fmt.Appendf(nil, "kv-go value %d.%d", i, part))
		b = append(b, sum[:]...)
	}
	return hex.EncodeToString(b)
}

// check verifies that key000000..key<n-1> hold their fill values, and that
// any other fill key present (left by an interrupted fill) does too.
func check(db *buntdb.DB, n int) error {
	found, fills := 0, 0
	var bad []string
	err := db.View(func(tx *buntdb.Tx) error {
		return tx.AscendKeys("key*", func(k, v string) bool {
			i, err := strconv.Atoi(strings.TrimPrefix(k, "key"))
			if err != nil || k != fillKey(i) {
				return true // not written by fill
			}
			fills++
			if v != fillValue(i) {
				bad = append(bad, k)
			}
			if i < n {
				found++
			}
			return true
		})
	})
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d keys have wrong values, first %s", len(bad), bad[0])
	}
	if found != n {
		return fmt.Errorf("%d of the first %d fill keys are missing", n-found, n)
	}
	fmt.Printf("checked %d keys: all correct (%d fill keys in the store)\n", n, fills)
	return nil
}

func notFound(key string, err error) error {
	if errors.Is(err, buntdb.ErrNotFound) {
		return fmt.Errorf("no key %q", key)
	}
	return err
}

func number(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count: give a whole number, 0 or more", s)
	}
	return n, nil
}
