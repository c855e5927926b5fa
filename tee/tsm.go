package tee

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/report"
)

// tsmBackend is what differs between the backends that share the
// configfs-tsm report interface.
type tsmBackend struct {
	name          string // "snp", "tdx": starts every message
	provider      string // the provider file's expected content
	wrongProvider string // what another provider means, with the fix
	hint          string // how to get a working interface
	ioError       string // what EIO from outblob means, with what to check
}

// getTSMReport runs one configfs-tsm request and checks the provider. The
// outblob and auxblob are returned unchecked.
func getTSMReport(ctx context.Context, tsm configfsi.Client, b tsmBackend, req *report.Request) (*report.Response, error) {
	// go-configfs-tsm formats client errors with %v; recording them keeps
	// their type so a missing interface reads differently from a busy one.
	rec := &recordingClient{Client: tsm}
	resp, err := report.Get(rec, req)
	if err != nil {
		return nil, explainTSMError(b, err, rec.failure())
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s evidence: %w", b.name, err)
	}
	if provider := strings.TrimSpace(resp.Provider); provider != b.provider {
		if len(provider) > maxProviderSize {
			provider = provider[:maxProviderSize]
		}
		return nil, fmt.Errorf("%w: %s evidence: configfs-tsm provider is %q, not %q: %s", ErrBadResponse, b.name, oneLine(provider), b.provider, b.wrongProvider)
	}
	return resp, nil
}

// recordingClient passes calls to Client and remembers the first error,
// with the operation and path that produced it.
type recordingClient struct {
	configfsi.Client
	mu    sync.Mutex
	first *fs.PathError
}

func (c *recordingClient) record(op, name string, err error) error {
	if err != nil {
		c.mu.Lock()
		if c.first == nil {
			c.first = &fs.PathError{Op: op, Path: name, Err: err}
		}
		c.mu.Unlock()
	}
	return err
}

func (c *recordingClient) failure() *fs.PathError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

func (c *recordingClient) MkdirTemp(dir, pattern string) (string, error) {
	name, err := c.Client.MkdirTemp(dir, pattern)
	return name, c.record("create entry in", dir, err)
}

func (c *recordingClient) ReadFile(name string) ([]byte, error) {
	b, err := c.Client.ReadFile(name)
	return b, c.record("read", name, err)
}

func (c *recordingClient) WriteFile(name string, contents []byte) error {
	return c.record("write", name, c.Client.WriteFile(name, contents))
}

func (c *recordingClient) RemoveAll(name string) error {
	return c.record("remove", name, c.Client.RemoveAll(name))
}

// explainTSMError turns a go-configfs-tsm failure into one line that says
// what went wrong and what to do. cause is the first client error, if any.
func explainTSMError(b tsmBackend, err error, cause *fs.PathError) error {
	if gen := report.GetGenerationErr(err); gen != nil {
		return fmt.Errorf("%w: %s evidence: the configfs-tsm report entry changed while it was read (generation %d, expected %d): another process wrote to it; retry", ErrInterference, b.name, gen.Got, gen.Want)
	}
	if cause == nil {
		return fmt.Errorf("%s evidence: configfs-tsm: %s", b.name, oneLine(err.Error()))
	}
	where := cause.Op + " " + cause.Path
	inner := oneLine(bare(cause).Error())
	switch {
	case errors.Is(cause.Err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s evidence: configfs-tsm: %s: not found: %s", ErrUnavailable, b.name, where, b.hint)
	case errors.Is(cause.Err, syscall.EBUSY), errors.Is(cause.Err, syscall.EAGAIN):
		return fmt.Errorf("%w: %s evidence: configfs-tsm: %s: %s: another report request is in progress; retry", ErrBusy, b.name, where, inner)
	case errors.Is(cause.Err, fs.ErrPermission):
		return fmt.Errorf("%w: %s evidence: configfs-tsm: %s: permission denied: run donjon as root or give it write access to %s", ErrUnavailable, b.name, where, pathTSMReport)
	case errors.Is(cause.Err, syscall.EIO):
		return fmt.Errorf("%s evidence: configfs-tsm: %s: %s", b.name, where, b.ioError)
	case errors.Is(cause.Err, syscall.EINVAL) && strings.HasSuffix(cause.Path, "/privlevel"):
		return fmt.Errorf("%w: %s evidence: configfs-tsm: %s: privilege level %d refused: this guest runs above VMPL0 (e.g. under an SVSM), which donjon does not support yet", ErrUnavailable, b.name, where, snpPrivLevel)
	default:
		return fmt.Errorf("%s evidence: configfs-tsm: %s: %s", b.name, where, inner)
	}
}
