package keep

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"donjon.dev/tlsnet"
	"donjon.dev/wasi/vfs"
)

// openSockets opens the plan's listen and connect sockets before the guest
// starts, so that a port in use or a server that fails verification stops
// the keep with that reason instead of surfacing as an errno in the guest.
// It returns the sockets by fd number.
// open counts the connections still sending (tlsnet.Options.Open).
func openSockets(ctx context.Context, log *slog.Logger, p *Plan, creds *credentials, open *sync.WaitGroup) (socks map[int]vfs.Socket, err error) {
	socks = map[int]vfs.Socket{}
	defer func() {
		if err != nil {
			for _, s := range socks {
				s.Close()
			}
		}
	}()
	for i, fd := range p.FDs {
		var s vfs.Socket
		switch fd.Kind {
		case FDListen:
			s, err = listen(ctx, log, fd, creds, open)
		case FDConnect:
			s, err = connect(ctx, log, fd, creds, open)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fd %d (%s): %w", i, fd.Name, err)
		}
		socks[i] = s
	}
	return socks, nil
}

func listen(ctx context.Context, log *slog.Logger, fd FD, creds *credentials, open *sync.WaitGroup) (vfs.Socket, error) {
	addr := net.JoinHostPort(fd.Addr, strconv.Itoa(int(fd.Port)))
	opts := tlsnet.Options{Log: log.With("socket", fd.Name), Open: open}
	if !fd.Plaintext {
		cfg, err := creds.serverTLS(fd)
		if err != nil {
			return nil, err
		}
		opts.TLS = cfg
	}
	l, err := tlsnet.Listen(ctx, "tcp", addr, opts)
	if err != nil {
		return nil, err
	}
	log.Info("listening", "socket", fd.Name, "addr", l.Addr().String(), "tls", !fd.Plaintext, "client_auth", clientAuth(fd))
	return l, nil
}

func connect(ctx context.Context, log *slog.Logger, fd FD, creds *credentials, open *sync.WaitGroup) (vfs.Socket, error) {
	addr := net.JoinHostPort(fd.Host, strconv.Itoa(int(fd.Port)))
	opts := tlsnet.Options{Log: log.With("socket", fd.Name), Open: open}
	if !fd.Plaintext {
		cfg, err := creds.clientTLS(fd)
		if err != nil {
			return nil, err
		}
		opts.TLS = cfg
	}
	c, err := tlsnet.Dial(ctx, "tcp", addr, opts)
	if err != nil {
		return nil, err
	}
	attrs := []any{"socket", fd.Name, "addr", addr, "tls", !fd.Plaintext}
	if cs, ok := c.ConnectionState(); ok && len(cs.PeerCertificates) > 0 {
		attrs = append(attrs, "peer", cs.PeerCertificates[0].Subject.CommonName, "version", tls.VersionName(cs.Version))
	}
	log.Info("connected", attrs...)
	return c, nil
}

func clientAuth(fd FD) string {
	switch {
	case fd.Plaintext:
		return "none (plain TCP)"
	case fd.Peer.Keep:
		return "attested keeps"
	case fd.Peer.CA != "":
		return "certificate"
	}
	return "none"
}
