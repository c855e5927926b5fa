package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"donjon.dev/config"
	"donjon.dev/keep"
	"donjon.dev/tee"
)

const keepSubcommand = "__keep"

func keepChildMain(ctx context.Context, log *slog.Logger) int { return keep.ChildMain(ctx, log) }

type runFlags struct {
	backend    string
	steward    string
	configFile string
	env        []string
	dirs       []string
	plainDirs  []string
	memory     string
	timeout    time.Duration
	cacheDir   string
	noCache    bool
	devKey     string
}

func (a *app) runCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] app.wasm [--] [args...]",
		Short: "Run a WebAssembly (WASI preview 1) program in a keep",
		Long: `Run a WebAssembly (WASI preview 1) program in a keep.

Everything after the module's path is passed to the program as its
arguments. The program sees only the environment that Donjon.toml and
--env give it, and only the directories that --dir, --plain-dir and
[[files]] entries of kind "dir" give it.

Exit status: the program's own exit code; 124 when --timeout stopped it;
134 when it trapped; 125 when donjon could not run it.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			guestArgs := args[1:]
			// "app.wasm -- args": the first "--" after the module only
			// separates; a second one reaches the program.
			if len(guestArgs) > 0 && guestArgs[0] == "--" {
				guestArgs = guestArgs[1:]
			}
			return a.runKeep(cmd.Context(), &f, args[0], guestArgs)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false) // flags after the module belong to the program
	fl.StringVar(&f.backend, "backend", "auto", "keep backend: auto (the strongest this machine has), snp, tdx, or nil (no protection, development only)")
	fl.StringVar(&f.steward, "steward", "", "attestation service URL (overrides steward in the config); without one the keep self-signs its certificate")
	fl.StringVarP(&f.configFile, "config", "c", "", "workload config (Donjon.toml or Enarx.toml)")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable for the program: KEY=VALUE (repeatable)")
	fl.StringArrayVar(&f.dirs, "dir", nil, "give the program a sealed directory, stored encrypted in HOST: HOST[:GUEST] (repeatable)")
	fl.StringArrayVar(&f.plainDirs, "plain-dir", nil, "give the program a host directory stored in plaintext: HOST[:GUEST] (repeatable)")
	fl.StringVar(&f.memory, "memory", "", "linear memory limit, e.g. 256MiB (default 1GiB, or limits.memory)")
	fl.DurationVar(&f.timeout, "timeout", 0, "wall-clock limit, e.g. 30s (default none, or limits.timeout)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "directory for compiled code (default: the user cache directory)")
	fl.BoolVar(&f.noCache, "no-cache", false, "compile the module afresh and keep nothing")
	fl.StringVar(&f.devKey, "dev-key", "", "backend nil only: the INSECURE development secret sealed directories are keyed with (default: "+tee.DevKeyFileName+" in the user config directory, created if missing)")
	return cmd
}

func (a *app) runKeep(ctx context.Context, f *runFlags, modulePath string, args []string) error {
	backend, err := a.chooseBackend(ctx, f.backend)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(f.configFile)
	if err != nil {
		return err
	}
	if err := applyFlags(cfg, f); err != nil {
		return err
	}
	wasm, err := readModule(modulePath)
	if err != nil {
		return err
	}
	plan, err := a.plan(cfg, f, backend, filepath.Base(modulePath), args)
	if err != nil {
		return err
	}
	if backend == tee.Nil {
		fmt.Fprintln(a.stderr, "donjon: WARNING: backend nil: no isolation, no attestation; nothing in this keep is protected (development only)")
		if plan.Sealed() {
			fmt.Fprintf(a.stderr, "donjon: WARNING: backend nil: sealed directories are keyed with the development key %s: whoever can read that file can unseal them (development only)\n", plan.DevKeyFile)
		}
	}
	a.log.Debug("starting keep", "module", modulePath, "digest", fmt.Sprintf("%x", keep.Digest(wasm)), "config_digest", fmt.Sprintf("%x", cfg.Digest()), "backend", backend)

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the donjon executable: %w", err)
	}
	sup := keep.Supervisor{Exe: exe, Args: []string{keepSubcommand}, Log: a.log}
	out, err := sup.Run(ctx, plan, wasm, keep.Stdio{In: a.stdin, Out: a.stdout, Err: a.stderr})
	if err != nil {
		return err
	}
	a.log.Debug("keep identity", "identity", out.Identity)
	a.log.Debug("keep ended", "elapsed", out.Elapsed, "cached", out.Cached, "memory_bytes", out.MemoryBytes)
	return outcomeError(plan, out)
}

// outcomeError turns how the guest ended into donjon's exit status and
// message.
func outcomeError(p *keep.Plan, out keep.Outcome) error {
	limitNote := ""
	if out.MemoryLimitReached {
		limitNote = fmt.Sprintf(" (its memory had grown to %s of its %s limit: raise it with --memory or limits.memory)",
			sizeString(out.MemoryBytes), sizeString(uint64(p.MemoryLimitPages)*65536))
	}
	switch {
	case out.TimedOut:
		return &exitError{code: exitTimeout, msg: fmt.Sprintf("%s stopped: wall-clock limit of %v reached (raise it with --timeout or limits.timeout)", p.ModuleName, p.Timeout)}
	case out.Trap != "":
		msg := fmt.Sprintf("%s trapped: %s%s", p.ModuleName, out.Trap, limitNote)
		if out.TrapStack != "" {
			msg += "\n" + indent(firstLines(out.TrapStack, 12))
		}
		return &exitError{code: exitTrap, msg: msg}
	case out.ExitCode > 255:
		return &exitError{code: 1, msg: fmt.Sprintf("%s exited with code %d, which does not fit an exit status%s", p.ModuleName, out.ExitCode, limitNote)}
	case out.ExitCode != 0:
		msg := ""
		if limitNote != "" {
			msg = fmt.Sprintf("%s exited with code %d%s", p.ModuleName, out.ExitCode, limitNote)
		}
		return &exitError{code: int(out.ExitCode), msg: msg}
	}
	return nil
}

func (a *app) chooseBackend(ctx context.Context, name string) (tee.Backend, error) {
	if name == "auto" {
		report := tee.Detect(ctx, tee.RealProbe())
		b := report.Best()
		a.log.Debug("backend detected", "backend", b)
		return b, nil
	}
	b, err := tee.ParseBackend(name)
	if err != nil {
		return "", &exitError{code: 2, msg: fmt.Sprintf("--backend %q: %v", name, err)}
	}
	if b == tee.SGX {
		return "", &exitError{code: exitDonjon, msg: "--backend sgx is not implemented yet: use snp, tdx, auto, or nil (development only)"}
	}
	return b, nil
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return config.Parse(path, data)
}

// applyFlags layers the command line over the config file.
func applyFlags(cfg *config.Config, f *runFlags) error {
	for _, kv := range f.env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" || strings.ContainsRune(kv, 0) {
			return &exitError{code: 2, msg: fmt.Sprintf("--env %q: use KEY=VALUE", kv)}
		}
		cfg.Env = slices.DeleteFunc(cfg.Env, func(v config.EnvVar) bool { return v.Name == name })
		cfg.Env = append(cfg.Env, config.EnvVar{Name: name, Value: value})
	}
	var dirs []config.File
	for _, d := range f.dirs {
		file, err := config.ParseDirFlag(d, false)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("--dir: %v", err)}
		}
		dirs = append(dirs, file)
	}
	for _, d := range f.plainDirs {
		file, err := config.ParseDirFlag(d, true)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("--plain-dir: %v", err)}
		}
		dirs = append(dirs, file)
	}
	// Directories go before any socket: guests find preopened directories
	// by scanning from fd 3 and stop at the first one that is not.
	at := slices.IndexFunc(cfg.Files, func(f config.File) bool {
		return f.Kind == config.KindListen || f.Kind == config.KindConnect
	})
	if at < 0 {
		at = len(cfg.Files)
	}
	cfg.Files = slices.Insert(cfg.Files, at, dirs...)
	for i, a := range cfg.Files {
		for _, b := range cfg.Files[:i] {
			if a.Kind == config.KindDir && b.Kind == config.KindDir && a.Guest == b.Guest {
				return &exitError{code: 2, msg: fmt.Sprintf("guest path %s is given twice: give each directory its own guest path", a.Guest)}
			}
		}
	}
	if f.memory != "" {
		size, err := config.ParseMemory(f.memory)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("--memory: %v", err)}
		}
		cfg.Limits.Memory = size
	}
	if f.timeout < 0 {
		return &exitError{code: 2, msg: "--timeout must be positive, e.g. 30s"}
	}
	if f.timeout > 0 {
		cfg.Limits.Timeout = f.timeout
	}
	return nil
}

// configDigest is the digest the keep's evidence binds as its config: the
// SHA-256 of the config file as written when the command line changes
// nothing the workload sees, else of the file followed by a canonical list
// of what the command line changed. So `sha256sum Donjon.toml` predicts the
// digest of a keep run with the config alone, and a keep given extra
// arguments, variables or directories cannot pass for one that was not.
func configDigest(cfg *config.Config, f *runFlags, args []string) [32]byte {
	var o strings.Builder
	for _, a := range args {
		fmt.Fprintf(&o, "arg %q\n", a)
	}
	for _, kv := range f.env {
		fmt.Fprintf(&o, "env %q\n", kv)
	}
	for _, d := range f.dirs {
		fmt.Fprintf(&o, "dir %q\n", d)
	}
	for _, d := range f.plainDirs {
		fmt.Fprintf(&o, "plain-dir %q\n", d)
	}
	if f.memory != "" {
		fmt.Fprintf(&o, "memory %q\n", f.memory)
	}
	if f.timeout > 0 {
		fmt.Fprintf(&o, "timeout %q\n", f.timeout)
	}
	if o.Len() == 0 {
		return cfg.Digest()
	}
	return sha256.Sum256(append(cfg.Raw(), "\n# donjon run command line\n"+o.String()...))
}

// plan resolves a config into what the keep process runs.
func (a *app) plan(cfg *config.Config, f *runFlags, backend tee.Backend, moduleName string, args []string) (*keep.Plan, error) {
	p := &keep.Plan{
		Backend:          string(backend),
		ModuleName:       moduleName,
		Args:             append(slices.Clone(cfg.Args), args...),
		Env:              cfg.Environ(),
		MemoryLimitPages: cfg.Limits.MemoryPages(),
		Timeout:          cfg.Limits.Timeout,
		Debug:            a.verbose,
		Steward:          cfg.Steward,
		ConfigDigest:     configDigest(cfg, f, args),
		TLSNames:         cfg.TLS.Names,
	}
	if f.steward != "" {
		p.Steward = f.steward
	}
	if p.MemoryLimitPages == 0 {
		p.MemoryLimitPages = keep.DefaultMemoryLimitPages
	}
	for _, file := range cfg.Files {
		fd := keep.FD{Kind: keep.FDKind(file.Kind), Name: file.FDName()}
		switch file.Kind {
		case config.KindListen:
			fd.Addr, fd.Port, fd.Plaintext, fd.Peer = file.Addr.String(), file.Port, file.Prot == config.ProtTCP, file.Peer
		case config.KindConnect:
			fd.Host, fd.Port, fd.Plaintext, fd.Peer = file.Host, file.Port, file.Prot == config.ProtTCP, file.Peer
		case config.KindDir:
			host, err := filepath.Abs(file.HostPath)
			if err != nil {
				return nil, err
			}
			st, err := os.Stat(host)
			if err != nil {
				return nil, fmt.Errorf("directory for %s: %w", file.Guest, err)
			}
			if !st.IsDir() {
				return nil, fmt.Errorf("directory for %s: %s is not a directory", file.Guest, host)
			}
			fd.HostPath, fd.GuestPath, fd.Plaintext = host, file.Guest, file.Plain
		}
		p.FDs = append(p.FDs, fd)
	}
	if err := a.devKey(p, f); err != nil {
		return nil, err
	}
	if !f.noCache {
		dir := f.cacheDir
		if dir == "" {
			if base, err := os.UserCacheDir(); err == nil {
				dir = filepath.Join(base, "donjon")
			} else {
				a.log.Debug("no compiled-code cache", "err", err)
			}
		}
		if dir != "" {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return nil, err
			}
			p.CacheDir = abs
		}
	}
	return p, p.Validate()
}

// devKey gives a nil-backend plan with sealed directories its development
// key file, creating the default one on first use.
func (a *app) devKey(p *keep.Plan, f *runFlags) error {
	if p.Backend != string(tee.Nil) {
		if f.devKey != "" {
			return &exitError{code: 2, msg: fmt.Sprintf("--dev-key applies to the nil backend only; the %s backend derives its sealing keys in hardware", p.Backend)}
		}
		return nil
	}
	if !p.Sealed() {
		return nil
	}
	if f.devKey != "" {
		abs, err := filepath.Abs(f.devKey)
		if err != nil {
			return err
		}
		p.DevKeyFile = abs
		return nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return &exitError{code: exitDonjon, msg: fmt.Sprintf("sealed directories on the nil backend need a development key: %v; give one with --dev-key FILE", err)}
	}
	p.DevKeyFile = filepath.Join(base, tee.DevKeyFileName)
	created, err := tee.CreateDevKeyFile(p.DevKeyFile)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(a.stderr, "donjon: created the nil backend's INSECURE development sealing key %s\n", p.DevKeyFile)
	}
	return nil
}

func readModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &exitError{code: exitDonjon, msg: fmt.Sprintf("module: %v", err)}
	}
	defer f.Close()
	wasm, err := io.ReadAll(io.LimitReader(f, keep.MaxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	if len(wasm) > keep.MaxModuleSize {
		return nil, &exitError{code: exitDonjon, msg: fmt.Sprintf("module %s is over the %s limit", path, sizeString(keep.MaxModuleSize))}
	}
	if !isWasm(wasm) {
		return nil, &exitError{code: exitDonjon, msg: fmt.Sprintf("%s is not a WebAssembly module (no \\0asm header): compile it for wasm32-wasi / wasip1", path)}
	}
	return wasm, nil
}

func isWasm(b []byte) bool { return len(b) >= 8 && string(b[:4]) == "\x00asm" }

func sizeString(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("... %d more", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string { return "\t" + strings.ReplaceAll(s, "\n", "\n\t") }
