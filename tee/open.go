package tee

import (
	"context"
	"fmt"
)

// OpenOptions configure Open.
type OpenOptions struct {
	// DevKeyFile is the nil backend's INSECURE development sealing secret
	// (see NilPlatform.DevKeyFile); the other backends ignore it.
	DevKeyFile string
}

// Open opens backend b on this machine, choosing the kernel interface the
// machine offers: for snp, configfs-tsm when it serves the sev_guest
// provider (with /dev/sev-guest for sealing keys when present), else
// /dev/sev-guest alone; for tdx, configfs-tsm. A backend the machine
// cannot run fails with ErrUnavailable and one line saying why and what to
// do; sgx fails with ErrNotImplemented. The choice follows Detect, so
// `donjon platform info` and Open agree.
func Open(ctx context.Context, b Backend, opts OpenOptions) (Platform, error) {
	return openWith(ctx, b, opts, RealProbe(), hardwareOpeners())
}

// openers reach the hardware once detection has picked an interface;
// tests replace them.
type openers struct {
	snpTSM, snpDevice func() (*SNPPlatform, error)
	tdx               func() (*TDXPlatform, error)
}

func hardwareOpeners() openers {
	return openers{snpTSM: OpenSNP, snpDevice: OpenSNPDevice, tdx: OpenTDX}
}

func openWith(ctx context.Context, b Backend, opts OpenOptions, probe Probe, open openers) (Platform, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s backend: %w", b, err)
	}
	switch b {
	case Nil:
		//lint:ignore S1016 the field is copied by name: OpenOptions is meant to grow fields for other backends.
		return NilPlatform{DevKeyFile: opts.DevKeyFile}, nil
	case SGX:
		return nil, fmt.Errorf("%w: sgx: donjon has no SGX backend yet; use snp or tdx", ErrNotImplemented)
	case SNP, TDX:
	default:
		_, err := ParseBackend(string(b))
		return nil, err
	}
	status, _ := Detect(ctx, probe).Status(b)
	if !status.Available {
		return nil, fmt.Errorf("%w: %s: %s", ErrUnavailable, b, oneLine(status.Details))
	}
	// Each branch returns its own typed result: a nil *SNPPlatform in a
	// Platform interface would not compare equal to nil.
	switch {
	case b == TDX:
		p, err := open.tdx()
		if err != nil {
			return nil, err
		}
		return p, nil
	case status.Interface == InterfaceConfigfsTSM:
		p, err := open.snpTSM()
		if err != nil {
			return nil, err
		}
		return p, nil
	default:
		p, err := open.snpDevice()
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}
