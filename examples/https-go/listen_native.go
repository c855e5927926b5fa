//go:build !wasip1

package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

// listen makes a TLS listener from flags, whose defaults come from the
// environment. This is the native baseline: it does itself what a keep
// does for the guest, with the same protocol version.
func listen(args []string) (net.Listener, string, error) {
	fs := flag.NewFlagSet("https-go", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error is returned, with what to do
	addr := fs.String("addr", envOr("HTTPS_ADDR", ":8443"), "address to listen on ($HTTPS_ADDR)")
	certFile := fs.String("cert", os.Getenv("HTTPS_CERT"), "certificate chain, PEM ($HTTPS_CERT)")
	keyFile := fs.String("key", os.Getenv("HTTPS_KEY"), "private key, PEM ($HTTPS_KEY)")
	if err := fs.Parse(args); err != nil {
		return nil, "", fmt.Errorf("%w; usage: https-go [-addr :8443] -cert cert.pem -key key.pem", err)
	}
	if fs.NArg() > 0 {
		return nil, "", fmt.Errorf("unexpected arguments %q; usage: https-go [-addr :8443] -cert cert.pem -key key.pem", fs.Args())
	}
	if *certFile == "" || *keyFile == "" {
		return nil, "", errors.New("natively, https-go needs a certificate: give -cert and -key (or $HTTPS_CERT and $HTTPS_KEY) naming PEM files")
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return nil, "", fmt.Errorf("load the certificate: %w", err)
	}
	ln, err := tls.Listen("tcp", *addr, &tls.Config{
		Certificates: []tls.Certificate{cert},
		// What a keep offers: TLS 1.3 and HTTP/1.1.
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{"http/1.1"},
	})
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w", *addr, err)
	}
	return ln, ln.Addr().String() + " (TLS by https-go)", nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
