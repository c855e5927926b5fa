package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"
)

func printJSON(v any) {
	out, err := json.Marshal(v)
	if err != nil {
		failf("json", "%v", err)
	}
	fmt.Printf("%s\n", out)
}

func printEnv() {
	env := os.Environ()
	slices.Sort(env)
	printJSON(env)
}

func runClock(args []string) {
	now := time.Now()
	sec := now.Unix()
	fmt.Printf("info realtime %d.%09d\n", sec, now.Nanosecond())
	// 2020-01-01 .. 2100-01-01: catches a clock that counts from zero or
	// returns microseconds where nanoseconds are due.
	if sec < 1577836800 || sec > 4102444800 {
		failf("realtime", "%d is not a plausible Unix time", sec)
	}
	ok("realtime")
	if len(args) > 0 {
		host, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			usageExit()
		}
		if d := sec - host; d < -300 || d > 300 {
			failf("realtime-host", "guest %d, host %d: %d s apart", sec, host, d)
		}
		ok("realtime-host")
	}

	start := time.Now()
	advanced := false
	for range 100_000_000 {
		if time.Since(start) > 0 {
			advanced = true
			break
		}
	}
	if !advanced {
		failf("monotonic", "monotonic clock did not advance")
	}
	prev := time.Since(start)
	for range 1000 {
		d := time.Since(start)
		if d < prev {
			failf("monotonic", "went back from %v to %v", prev, d)
		}
		prev = d
	}
	ok("monotonic")

	before := time.Now()
	time.Sleep(2 * time.Millisecond)
	if d := time.Since(before); d < 2*time.Millisecond {
		failf("monotonic-sleep", "slept 2ms but monotonic clock moved %v", d)
	}
	ok("monotonic-sleep")
	clockResolution()
	done("clock")
}

func runRandom() {
	a := make([]byte, 64)
	b := make([]byte, 64)
	must("random-read", readRandom(a))
	must("random-read", readRandom(b))
	ok("random-read")
	if bytes.Equal(a, make([]byte, 64)) || bytes.Equal(b, make([]byte, 64)) {
		failf("random-nonzero", "64 random bytes are all zero")
	}
	ok("random-nonzero")
	if bytes.Equal(a, b) {
		failf("random-differ", "two random reads returned the same 64 bytes")
	}
	ok("random-differ")
	fmt.Printf("info random %x\n", a[:8])
	done("random")
}

func readRandom(b []byte) error {
	_, err := io.ReadFull(rand.Reader, b)
	return err
}

func runSleep(ms int) {
	start := time.Now()
	time.Sleep(time.Duration(ms) * time.Millisecond)
	elapsed := time.Since(start)
	fmt.Printf("slept ms=%d\n", elapsed.Milliseconds())
	if elapsed < time.Duration(ms)*time.Millisecond {
		failf("sleep", "asked for %d ms, woke after %v", ms, elapsed)
	}
	ok("sleep")
	done("sleep")
}

func runCat() {
	if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "cat: %v\n", err)
		os.Exit(1)
	}
}

//go:noinline
func nilMap() map[string]int { return nil }

func runTrap() {
	fmt.Println("trapping")
	nilMap()["boom"] = 1
}

func allocForever() {
	const block = 1 << 20
	var kept [][]byte
	for mib := 1; ; mib++ {
		b := make([]byte, block)
		// Touch every page so the memory is really committed.
		for i := 0; i < block; i += 4096 {
			b[i] = byte(mib)
		}
		kept = append(kept, b)
		if mib%16 == 0 {
			fmt.Printf("allocated %d MiB (%d blocks)\n", mib, len(kept))
		}
	}
}

func loopForever() {
	fmt.Println("looping")
	x := uint64(1)
	for {
		x = x*6364136223846793005 + 1442695040888963407
		if x == 0 {
			// Unreachable in practice (the LCG has full period and we start
			// at 1); the branch keeps the loop from being optimised away.
			fmt.Println("wrapped")
		}
	}
}

func runServe(fd int) {
	// A wasip1 guest is single threaded: without non-blocking mode the
	// first accept would block the whole program in the host.
	must("serve-nonblock", syscall.SetNonblock(fd, true))
	l, err := net.FileListener(os.NewFile(uintptr(fd), "listener"))
	must("serve-listener", err)
	fmt.Println("listening")
	conn, err := l.Accept()
	must("serve-accept", err)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && err != io.EOF {
		failf("serve-read", "%v", err)
	}
	_, err = fmt.Fprintf(conn, "echo: %s", line)
	must("serve-write", err)
	must("serve-close", conn.Close())
	ok("serve")
	done("serve")
}
