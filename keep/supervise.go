package keep

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// The keep process reads its plan from fd 3 and reports on fd 4.
const (
	planFD   = 3
	statusFD = 4
	// maxPlan bounds the plan a keep process accepts.
	maxPlan = 16 << 20
	// maxStatus bounds the report a supervisor accepts.
	maxStatus = 1 << 20
)

// Outcome is how a supervised keep ended.
type Outcome struct {
	Result
	// TimedOut tells that the wall-clock limit stopped the guest.
	TimedOut bool
	// Elapsed is the wall-clock time the keep process ran.
	Elapsed time.Duration
}

// Supervisor runs each keep in its own process: the command Exe with Args,
// which must call ChildMain.
type Supervisor struct {
	Exe  string
	Args []string
	Log  *slog.Logger
}

// status is the keep process's report.
type status struct {
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Run starts a keep process for the plan, waits for it and reports how the
// guest ended. It enforces the plan's timeout by killing the process, and
// kills it too when ctx ends. The guest's stdio is stdio, passed directly.
func (s Supervisor) Run(ctx context.Context, p *Plan, wasm []byte, stdio Stdio) (Outcome, error) {
	if err := p.Validate(); err != nil {
		return Outcome{}, err
	}
	planR, planW, err := os.Pipe()
	if err != nil {
		return Outcome{}, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		planR.Close()
		planW.Close()
		return Outcome{}, err
	}
	cmd := exec.Command(s.Exe, s.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.In, stdio.Out, stdio.Err
	cmd.ExtraFiles = []*os.File{planR, statusW}
	// The host environment stays out of the keep; only the temp dir
	// location is needed (for compiled code).
	cmd.Env = []string{}
	if tmp, ok := os.LookupEnv("TMPDIR"); ok {
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	start := time.Now()
	err = cmd.Start()
	planR.Close()
	statusW.Close()
	if err != nil {
		planW.Close()
		statusR.Close()
		return Outcome{}, fmt.Errorf("start keep process: %w", err)
	}

	sent := make(chan error, 1)
	go func() {
		err := writePlan(planW, p, wasm)
		planW.Close()
		sent <- err
	}()
	reported := make(chan status, 1)
	go func() {
		defer statusR.Close()
		var st status
		b, err := io.ReadAll(io.LimitReader(statusR, maxStatus))
		if err == nil && len(b) > 0 {
			if err := json.Unmarshal(b, &st); err != nil {
				st.Error = fmt.Sprintf("unreadable report from the keep process: %v", err)
			}
		}
		reported <- st
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var timeout <-chan time.Time
	if p.Timeout > 0 {
		t := time.NewTimer(p.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var out Outcome
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-timeout:
		out.TimedOut = true
		_ = cmd.Process.Kill()
		<-exited
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
		out.Elapsed = time.Since(start)
		return out, ctx.Err()
	}
	out.Elapsed = time.Since(start)
	st := <-reported
	if err := <-sent; err != nil && !out.TimedOut && st.Result == nil && st.Error == "" {
		return out, fmt.Errorf("send plan to keep process: %w", err)
	}
	if out.TimedOut {
		return out, nil
	}
	if st.Error != "" {
		return out, errors.New(st.Error)
	}
	if st.Result == nil {
		return out, fmt.Errorf("keep process ended without a report (%v): the host may have run out of memory", waitErr)
	}
	out.Result = *st.Result
	return out, nil
}

func writePlan(w io.Writer, p *Plan, wasm []byte) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var hdr [12]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(b)))
	binary.BigEndian.PutUint64(hdr[4:], uint64(len(wasm)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err = w.Write(wasm)
	return err
}

func readPlan(r io.Reader) (*Plan, []byte, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, fmt.Errorf("read plan: %w", err)
	}
	planLen, modLen := binary.BigEndian.Uint32(hdr[:4]), binary.BigEndian.Uint64(hdr[4:])
	if planLen > maxPlan || modLen > MaxModuleSize {
		return nil, nil, fmt.Errorf("read plan: sizes %d and %d over the limits", planLen, modLen)
	}
	b := make([]byte, planLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, nil, fmt.Errorf("read plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, nil, fmt.Errorf("read plan: %w", err)
	}
	wasm := make([]byte, modLen)
	if _, err := io.ReadFull(r, wasm); err != nil {
		return nil, nil, fmt.Errorf("read module: %w", err)
	}
	return &p, wasm, nil
}

// ChildMain is the body of a keep process started by a Supervisor. It
// returns the process exit status, which the supervisor does not use: the
// outcome travels on the status pipe.
func ChildMain(ctx context.Context, log *slog.Logger) int {
	planFile := os.NewFile(planFD, "plan")
	statusFile := os.NewFile(statusFD, "status")
	defer statusFile.Close()
	var st status
	p, wasm, err := readPlan(planFile)
	planFile.Close()
	if err == nil && p.Debug {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err == nil {
		var res Result
		res, err = Run(ctx, log, p, wasm, Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
		if err == nil {
			st.Result = &res
		}
	}
	if err != nil {
		st.Error = err.Error()
	}
	if err := json.NewEncoder(statusFile).Encode(st); err != nil {
		// No supervisor is listening: this was not started by donjon run.
		fmt.Fprintf(os.Stderr, "donjon: this command is internal to `donjon run` (%s)\n", firstNonEmpty(st.Error, err.Error()))
		return 125
	}
	return 0
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
