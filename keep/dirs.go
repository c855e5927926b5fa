package keep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"donjon.dev/sealfs"
	"donjon.dev/steward/stewardclient"
	"donjon.dev/tee"
	"donjon.dev/wasi/hostfs"
	"donjon.dev/wasi/vfs"
)

// SealingPurpose names the sealing key of one sealed directory. It binds
// the key to the module, so that another workload cannot derive it, and to
// the guest path, so that the host cannot swap two sealed directories of
// one workload. The backend binds it to its platform (on SNP, the
// launch measurement and policy).
func SealingPurpose(module [32]byte, guestPath string) string {
	return fmt.Sprintf("donjon.dev/keep sealed directory v1 module=%x guest=%s", module, guestPath)
}

// keySource gives the sealing key for a purpose.
type keySource func(ctx context.Context, purpose string) ([]byte, error)

// sealingKeys gets keys from the backend or, where the hardware derives
// none (TDX), from the steward that certified the keep: it releases a key
// bound to the workload in the keep's certificate, wrapped for this keep
// alone. A platform uses one source or the other, never both: each would
// seal with another key.
func sealingKeys(opts AttestOptions, att *Attestation) keySource {
	if !stewardKeys(opts.Platform) {
		return opts.Platform.SealingKey
	}
	return func(ctx context.Context, purpose string) ([]byte, error) {
		if !att.Certified {
			return nil, fmt.Errorf("%w: %s keeps get their sealing keys from the steward that certified them: configure a steward (steward = URL)", tee.ErrNoSealingKey, opts.Platform.Name())
		}
		key, err := stewardclient.SealingKey(ctx, opts.HTTPClient, opts.Steward, att.StewardCA(), att.Chain[0], att.Identity.Signer(), purpose)
		if err != nil {
			return nil, fmt.Errorf("%w: the steward released none: %w", tee.ErrNoSealingKey, err)
		}
		return key, nil
	}
}

// stewardKeys tells whether the steward gives platform its sealing keys:
// TDX derives none in hardware, and a nil platform without a development
// key file has no other source.
func stewardKeys(platform tee.Platform) bool {
	switch platform.Name() {
	case tee.TDX:
		return true
	case tee.Nil:
		np, ok := platform.(tee.NilPlatform)
		return ok && np.DevKeyFile == ""
	}
	return false
}

// openDirs opens the plan's directories, keyed by fd: plain ones as host
// files, sealed ones with a key from keys. On error nothing stays open.
func openDirs(ctx context.Context, log *slog.Logger, p *Plan, keys keySource, module [32]byte) (_ map[int]vfs.Dir, err error) {
	dirs := map[int]vfs.Dir{}
	defer func() {
		if err != nil {
			for _, d := range dirs {
				d.Close()
			}
		}
	}()
	for i, fd := range p.FDs {
		if fd.Kind != FDDir {
			continue
		}
		if fd.Plaintext {
			d, err := hostfs.Open(fd.HostPath)
			if err != nil {
				return nil, fmt.Errorf("fd %d (%s): %w", i, fd.GuestPath, err)
			}
			dirs[i] = d
			log.Debug("directory", "guest", fd.GuestPath, "host", fd.HostPath, "sealed", false)
			continue
		}
		key, err := keys(ctx, SealingPurpose(module, fd.GuestPath))
		if errors.Is(err, tee.ErrNoSealingKey) {
			return nil, fmt.Errorf("fd %d (%s): cannot seal the directory: %w; to store it in plaintext instead, say plain = true or --plain-dir", i, fd.GuestPath, err)
		}
		if err != nil {
			return nil, fmt.Errorf("fd %d (%s): sealing key: %w", i, fd.GuestPath, err)
		}
		d, err := sealfs.Open(fd.HostPath, key, sealfs.Options{Logger: log.With("guest", fd.GuestPath)})
		clear(key)
		if errors.Is(err, sealfs.ErrWrongKey) {
			// sealfs's own message names no cause the keep knows better.
			return nil, fmt.Errorf("fd %d (%s): wrong key for the sealed directory %s: it was sealed by another module, for another guest path or with another %s, or its header was altered; run the workload that sealed it, or give it an empty directory",
				i, fd.GuestPath, fd.HostPath, platformKey(p))
		}
		if errors.Is(err, sealfs.ErrNotSealed) {
			return nil, fmt.Errorf("fd %d (%s): %w; to use its files as they are, unencrypted, say plain = true or --plain-dir", i, fd.GuestPath, err)
		}
		if err != nil {
			return nil, fmt.Errorf("fd %d (%s): %w", i, fd.GuestPath, err)
		}
		dirs[i] = d
		log.Debug("directory", "guest", fd.GuestPath, "host", fd.HostPath, "sealed", true)
	}
	return dirs, nil
}

func platformKey(p *Plan) string {
	if p.Backend != string(tee.Nil) {
		return p.Backend + " platform"
	}
	return "development key than " + p.DevKeyFile
}
