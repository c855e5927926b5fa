package steward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Content types of the protocol.
const (
	ContentTypeCSR     = "application/pkcs10"
	ContentTypePkiPath = "application/pkix-pkipath"
)

// Handler serves the protocol on POST /, sealing keys on POST
// /v1/sealing-key, Prometheus metrics on GET /metrics and a liveness probe on
// GET /healthz.
func (s *Steward) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.serveIssue)
	mux.HandleFunc(SealingKeyPath, s.serveSealingKey)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func (s *Steward) serveIssue(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	outcome, rule := s.issue(w, req)
	s.metrics.requests.WithLabelValues(outcome).Inc()
	s.metrics.duration.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	if rule != "" {
		s.metrics.rejected.WithLabelValues(rule).Inc()
	}
}

// issue answers one request and says how it ended, for the metrics.
func (s *Steward) issue(w http.ResponseWriter, req *http.Request) (outcome, rule string) {
	log := s.cfg.Logger.With("remote", req.RemoteAddr)
	refuse := func(status int, rule, reason string) (string, string) {
		log.Info("certificate request refused", "status", status, "rule", rule, "reason", reason)
		writeRefusal(w, status, rule, reason)
		if status == http.StatusForbidden {
			return outcomeForbidden, rule
		}
		return outcomeBadRequest, rule
	}
	if req.URL.Path != "/" {
		return refuse(http.StatusNotFound, "request", "no such endpoint; POST a certificate request to /")
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return refuse(http.StatusMethodNotAllowed, "request", "POST a DER certificate request with Content-Type "+ContentTypeCSR)
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != ContentTypeCSR {
		return refuse(http.StatusBadRequest, "request", fmt.Sprintf("Content-Type is %.60q, want %s with a DER certificate request", req.Header.Get("Content-Type"), ContentTypeCSR))
	}
	body := http.MaxBytesReader(w, req.Body, s.cfg.MaxRequest)
	der, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return refuse(http.StatusRequestEntityTooLarge, "request", fmt.Sprintf("the request is larger than %d bytes", s.cfg.MaxRequest))
		}
		return refuse(http.StatusBadRequest, "request", "reading the request: "+oneLine(err.Error()))
	}
	path, entry, err := s.Issue(req.Context(), der, req.RemoteAddr)
	if err != nil {
		var rej *Rejection
		if errors.As(err, &rej) {
			return refuse(rej.Status, rej.Rule, oneLine(rej.Err.Error()))
		}
		log.Error("certificate request failed", "err", err)
		http.Error(w, "the steward failed to issue the certificate; see its log", http.StatusInternalServerError)
		return outcomeError, ""
	}
	c := entry.Claims
	log.Info("certificate issued", "serial", entry.Serial, "source", entry.Source, "platform", c.Platform.String(),
		"insecure", c.Insecure, "debug", c.Debug, "module", fmt.Sprintf("%x", c.ModuleDigest), "not_after", entry.NotAfter.UTC())
	s.metrics.issued.WithLabelValues(c.Platform.String()).Inc()
	w.Header().Set("Content-Type", ContentTypePkiPath)
	w.WriteHeader(http.StatusOK)
	w.Write(path)
	return outcomeIssued, ""
}

// writeRefusal answers one line, "rule: reason".
func writeRefusal(w http.ResponseWriter, status int, rule, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s: %s\n", rule, reason)
}

func (s *Steward) serveSealingKey(w http.ResponseWriter, req *http.Request) {
	outcome, rule := s.sealingKey(w, req)
	s.metrics.sealingRequests.WithLabelValues(outcome).Inc()
	if rule != "" {
		s.metrics.sealingRejected.WithLabelValues(rule).Inc()
	}
}

// sealingKey answers one sealing key request and says how it ended, for the
// metrics.
func (s *Steward) sealingKey(w http.ResponseWriter, req *http.Request) (outcome, rule string) {
	log := s.cfg.Logger.With("remote", req.RemoteAddr)
	refuse := func(status int, rule, reason string) (string, string) {
		log.Info("sealing key request refused", "status", status, "rule", rule, "reason", reason)
		writeRefusal(w, status, rule, reason)
		switch status {
		case http.StatusForbidden:
			return outcomeForbidden, rule
		case http.StatusNotImplemented:
			return outcomeUnavailable, rule
		}
		return outcomeBadRequest, rule
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return refuse(http.StatusMethodNotAllowed, "request", "POST a JSON sealing key request with Content-Type "+ContentTypeJSON)
	}
	// Before reading anything: a keep should learn this first.
	if s.cfg.SealingSecret == nil {
		return refuse(http.StatusNotImplemented, RuleSealing, ErrSealingNotConfigured.Error())
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != ContentTypeJSON {
		return refuse(http.StatusBadRequest, "request", fmt.Sprintf("Content-Type is %.60q, want %s with a sealing key request", req.Header.Get("Content-Type"), ContentTypeJSON))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxSealingRequest))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return refuse(http.StatusRequestEntityTooLarge, "request", fmt.Sprintf("the request is larger than %d bytes", MaxSealingRequest))
		}
		return refuse(http.StatusBadRequest, "request", "reading the request: "+oneLine(err.Error()))
	}
	r, err := ParseSealingKeyRequest(body)
	var resp *SealingKeyResponse
	var rel *Release
	if err == nil {
		resp, rel, err = s.ReleaseSealingKey(req.Context(), r, req.RemoteAddr)
	}
	if err != nil {
		var rej *Rejection
		if errors.As(err, &rej) {
			return refuse(rej.Status, rej.Rule, oneLine(rej.Err.Error()))
		}
		log.Error("sealing key request failed", "err", err)
		http.Error(w, "the steward failed to release the key; see its log", http.StatusInternalServerError)
		return outcomeError, ""
	}
	out, err := json.Marshal(resp)
	if err != nil {
		log.Error("sealing key request failed", "err", err)
		http.Error(w, "the steward failed to release the key; see its log", http.StatusInternalServerError)
		return outcomeError, ""
	}
	log.Info("sealing key released", "serial", rel.Serial, "platform", rel.Platform.String(), "debug", rel.Debug,
		"module", fmt.Sprintf("%x", rel.Module), "purpose", rel.Purpose)
	w.Header().Set("Content-Type", ContentTypeJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	return outcomeReleased, ""
}

// Server timeouts and limits: a keep's request is one small POST, so slow or
// oversized clients are cut off early.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownGrace     = 10 * time.Second
)

// Serve answers on ln until ctx is done, then stops accepting, lets requests
// in flight finish (up to a grace period) and returns nil.
func (s *Steward) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("steward: serve: %w", err)
	case <-ctx.Done():
	}
	s.cfg.Logger.Info("steward shutting down", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("steward: shutdown: %w", err)
	}
	return nil
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
