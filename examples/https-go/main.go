// Command https-go is an HTTP server for donjon keeps, and the same server
// built natively as the baseline that benchmarks compare a keep against.
//
// In a keep (GOOS=wasip1) it serves on the listening socket its keep
// preopened under the name "https"; the keep wraps every connection in TLS
// with its attested certificate, so this program only speaks plain HTTP.
// Built natively it terminates TLS itself with crypto/tls (see
// listen_native.go). The handlers are the same in both.
//
//	GOOS=wasip1 GOARCH=wasm go build -o https-go.wasm ./examples/https-go
//	go build -o https-go ./examples/https-go
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

const (
	// maxEcho bounds what /echo reads into memory.
	maxEcho = 1 << 20
	// maxBytes bounds what /bytes sends, so one request cannot run forever.
	maxBytes = 1 << 30
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ln, where, err := listen(os.Args[1:])
	if err != nil {
		log.Error("https-go cannot start", "err", err)
		os.Exit(1)
	}
	srv := &http.Server{
		Handler: newServer().routes(),
		// A client that never finishes its headers must not hold a
		// connection (and, in a single-threaded guest, memory) forever.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("https-go serving", "on", where, "go", runtime.Version())
	if err := srv.Serve(ln); err != nil {
		log.Error("https-go stopped", "err", err)
		os.Exit(1)
	}
}

// server holds what the handlers share.
type server struct {
	requests atomic.Int64
}

func newServer() *server { return &server{} }

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /hello", s.hello)
	mux.HandleFunc("POST /echo", s.echo)
	mux.HandleFunc("GET /bytes", s.bytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		mux.ServeHTTP(w, r)
	})
}

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello! This page is served from a donjon keep.\n\n"+
		"requests served: %d\n"+
		"built with:      %s (%s/%s)\n\n"+
		"GET /hello       a short greeting\n"+
		"POST /echo       your request body, back (at most %d bytes)\n"+
		"GET /bytes?n=N   N bytes (at most %d)\n",
		s.requests.Load(), runtime.Version(), runtime.GOOS, runtime.GOARCH, maxEcho, maxBytes)
}

func (s *server) hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "hello from a donjon keep\n")
}

func (s *server) echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEcho))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, fmt.Sprintf("the body is larger than %d bytes: send less", maxEcho), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("cannot read the body: %v", err), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func (s *server) bytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n < 0 || n > maxBytes {
		http.Error(w, fmt.Sprintf("n must be a whole number from 0 to %d, e.g. /bytes?n=1024", maxBytes), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	// Send from one fixed block: the point is to measure the transport.
	block := make([]byte, min(n, 64<<10))
	for i := range block {
		block[i] = 'a' + byte(i%26)
	}
	for n > 0 {
		k := min(n, int64(len(block)))
		if _, err := w.Write(block[:k]); err != nil {
			return // the client went away
		}
		n -= k
	}
}
