package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// timing is what one timed run of a program yields.
type timing struct {
	// Wall is from just before the process starts to its exit.
	Wall time.Duration
	// FirstOutput is from the same start to the first byte on stdout,
	// or zero if the program printed nothing.
	FirstOutput time.Duration
	// Stdout is everything the program printed on stdout.
	Stdout []byte
}

// firstWriteRecorder keeps stdout and notes when its first byte came.
// os/exec copies the child's pipe into it from a goroutine of its own, so
// it must be safe against the reader of its fields after Wait.
type firstWriteRecorder struct {
	mu    sync.Mutex
	start time.Time
	first time.Duration
	buf   bytes.Buffer
}

func (w *firstWriteRecorder) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() == 0 && len(p) > 0 {
		w.first = now.Sub(w.start)
	}
	return w.buf.Write(p)
}

// maxStderr bounds how much of a failing program's stderr an error quotes.
const maxStderr = 2000

// runTimed runs argv to completion and times it, in the environment env
// (nil: this process's own). A non-zero exit status is
// an error that quotes the program's stderr: every program here is
// expected to succeed, and a failure must stop the benchmark, not be timed.
func runTimed(ctx context.Context, limit time.Duration, argv, env []string) (timing, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	out := &firstWriteRecorder{}
	var stderr bytes.Buffer
	cmd.Stdout = out
	cmd.Stderr = &stderr

	start := time.Now()
	out.start = start
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return timing{}, fmt.Errorf("%s: still running after %v", strings.Join(argv, " "), limit)
		}
		return timing{}, fmt.Errorf("%s: %w; stderr: %s", strings.Join(argv, " "), err, clip(stderr.String(), maxStderr))
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	return timing{Wall: wall, FirstOutput: out.first, Stdout: bytes.Clone(out.buf.Bytes())}, nil
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
