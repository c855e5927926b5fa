package kds

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

const (
	// DefaultBaseURL is AMD's Key Distribution Service.
	DefaultBaseURL = "https://kdsintf.amd.com"
	// MaxCertSize bounds a VCEK read from KDS or the cache; real ones are
	// about 1.4 KB.
	MaxCertSize = 16 << 10
	// MaxCRLSize bounds a CRL read from KDS or the cache; AMD's are about
	// 1-2 KB.
	MaxCRLSize = 256 << 10

	// defaultTimeout bounds one request when the caller gives no Client, in
	// case the caller's context has no deadline either.
	defaultTimeout = 30 * time.Second
	// maxMemoryVCEKs bounds the in-memory cache: one entry per chip and TCB,
	// so a steward that sees many machines cannot grow it without limit.
	maxMemoryVCEKs = 1024
)

// Sentinel errors: every error from a failed fetch wraps one of them (or
// ErrReport, or the context's error), so a caller can tell "try later" from
// "this will never work".
var (
	// ErrNotFound: KDS answered 404: it has no such certificate.
	ErrNotFound = errors.New("kds: not found in AMD KDS")
	// ErrUnavailable: KDS could not be reached, rate-limited the request or
	// failed (HTTP 5xx); trying later may work.
	ErrUnavailable = errors.New("kds: AMD KDS unavailable")
	// ErrBadResponse: KDS (or whatever answered in its place) sent something
	// that is not the certificate or CRL asked for.
	ErrBadResponse = errors.New("kds: bad answer from AMD KDS")
)

// Fetcher finds VCEKs and CRLs: memory first, then CacheDir, then KDS. A
// cache hit never touches the network. Set the fields before first use and
// do not change or copy a Fetcher afterwards; its methods are safe for
// concurrent use, and concurrent requests for the same certificate share one
// download.
type Fetcher struct {
	// BaseURL is where KDS lives; "" means DefaultBaseURL. A mirror or a
	// caching proxy that serves the same paths works too.
	BaseURL string
	// Client makes the requests; nil means a client with a 30 s timeout.
	Client *http.Client
	// CacheDir holds fetched certificates across restarts (layout in
	// docs/kds.md); "" means memory only.
	CacheDir string
	// Product is the product line ("Milan", "Genoa", "Turin") of version 2
	// reports, which do not name one. For later reports it must agree with
	// the report's CPUID, if set.
	Product string
	// Logger receives cache misses, downloads and cache write failures;
	// nil discards them.
	Logger *slog.Logger
	// Now tells whether a cached CRL is still current; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	vceks    map[string][]byte // KDS path -> DER
	crls     map[string][]byte // product -> DER
	inflight map[string]*call
}

// call is one download that concurrent callers wait for.
type call struct {
	done chan struct{}
	der  []byte
	err  error
}

// VCEK returns the DER VCEK certificate for a raw SEV-SNP attestation report:
// the certificate of the chip named by CHIP_ID at the report's REPORTED_TCB.
// The result is a candidate only: verify the report with it (attest/snp).
func (f *Fetcher) VCEK(ctx context.Context, report []byte) ([]byte, error) {
	req, err := ParseReport(report, f.Product)
	if err != nil {
		return nil, err
	}
	key := req.Path()
	if der, ok := f.memoryVCEK(key); ok {
		f.logger().Debug("VCEK from memory", "vcek", req.String())
		return bytes.Clone(der), nil
	}
	der, err := f.shared(ctx, "vcek "+key, func(ctx context.Context) ([]byte, error) {
		return f.loadVCEK(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return bytes.Clone(der), nil
}

// loadVCEK looks in memory again (another caller may just have finished),
// then on disk, then downloads.
func (f *Fetcher) loadVCEK(ctx context.Context, req VCEKRequest) ([]byte, error) {
	key := req.Path()
	if der, ok := f.memoryVCEK(key); ok {
		return der, nil
	}
	file := ""
	if f.CacheDir != "" {
		file = filepath.Join(f.CacheDir, "vcek", req.CacheName())
		if der := f.readCachedVCEK(file, req); der != nil {
			f.rememberVCEK(key, der)
			return der, nil
		}
	}
	base, err := f.baseURL()
	if err != nil {
		return nil, err
	}
	target := base.String() + key
	remedy := fmt.Sprintf("set a cache directory and put the VCEK (DER) from %s in it, or have the host supply the certificate table", target)
	if file != "" {
		remedy = fmt.Sprintf("put the VCEK (DER) from %s at %s, or have the host supply the certificate table", target, file)
	}
	body, err := f.download(ctx, download{
		what:     "the VCEK for " + req.String(),
		url:      target,
		host:     base.Host,
		limit:    MaxCertSize,
		remedy:   remedy,
		notFound: "check the product line (set it explicitly for version 2 reports) and that REPORTED_TCB is a TCB AMD published, or have the host supply the certificate table",
	})
	if err != nil {
		return nil, err
	}
	der, err := parseVCEK(body, req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v: check BaseURL and any proxy, or %s", ErrBadResponse, target, err, remedy)
	}
	f.logger().Info("VCEK downloaded", "vcek", req.String(), "url", target)
	f.rememberVCEK(key, der)
	if file != "" {
		if err := writeAtomic(file, der); err != nil {
			f.logger().Warn("VCEK not cached on disk; it will be downloaded again after a restart", "file", file, "error", err)
		}
	}
	return der, nil
}

// readCachedVCEK returns the cached VCEK at file, or nil. A file that is
// unreadable, oversized or names another chip or TCB is logged and ignored:
// a fresh download replaces it.
func (f *Fetcher) readCachedVCEK(file string, req VCEKRequest) []byte {
	data, err := readLimited(file, MaxCertSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.logger().Warn("ignoring cached VCEK", "file", file, "error", err)
		return nil
	}
	der, err := parseVCEK(data, req)
	if err != nil {
		f.logger().Warn("ignoring cached VCEK", "file", file, "vcek", req.String(), "error", err)
		return nil
	}
	f.logger().Debug("VCEK from cache directory", "vcek", req.String(), "file", file)
	return der
}

// CRL returns AMD's certificate revocation list for a product line's ASKs
// (KDS /vcek/v1/{product}/crl), fetched again only once the cached one is
// past its NextUpdate. Nothing here checks its signature: give it to the
// verifier, which checks it against the trusted ARK.
func (f *Fetcher) CRL(ctx context.Context, product string) (*x509.RevocationList, error) {
	if !knownProduct(product) {
		return nil, fmt.Errorf("kds: product %q is not Milan, Genoa or Turin: fix the product name", product)
	}
	if der := f.memoryCRL(product, f.now()); der != nil {
		crl, _, err := parseCRL(der)
		return crl, err
	}
	der, err := f.shared(ctx, "crl "+product, func(ctx context.Context) ([]byte, error) {
		return f.loadCRL(ctx, product)
	})
	if err != nil {
		return nil, err
	}
	// Parsed per caller so that no two callers share a mutable list.
	crl, _, err := parseCRL(der)
	return crl, err
}

func (f *Fetcher) loadCRL(ctx context.Context, product string) ([]byte, error) {
	now := f.now()
	if der := f.memoryCRL(product, now); der != nil {
		return der, nil
	}
	file := ""
	if f.CacheDir != "" {
		file = filepath.Join(f.CacheDir, "crl", product+".crl")
		if der := f.readCachedCRL(file, now); der != nil {
			f.rememberCRL(product, der)
			return der, nil
		}
	}
	base, err := f.baseURL()
	if err != nil {
		return nil, err
	}
	target := base.String() + "/vcek/v1/" + product + "/crl"
	remedy := fmt.Sprintf("set a cache directory and put the CRL from %s in it, or verify without a CRL", target)
	if file != "" {
		remedy = fmt.Sprintf("put the CRL from %s at %s, or verify without a CRL", target, file)
	}
	body, err := f.download(ctx, download{
		what:     "the " + product + " CRL",
		url:      target,
		host:     base.Host,
		limit:    MaxCRLSize,
		remedy:   remedy,
		notFound: "check the product name and BaseURL",
	})
	if err != nil {
		return nil, err
	}
	crl, der, err := parseCRL(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v: check BaseURL and any proxy, or %s", ErrBadResponse, target, err, remedy)
	}
	if !current(crl, now) {
		// Returned all the same: the verifier decides what a stale list is worth.
		f.logger().Warn("KDS served a CRL that is not current", "url", target,
			"this_update", crl.ThisUpdate, "next_update", crl.NextUpdate, "now", now)
	} else {
		f.logger().Info("CRL downloaded", "product", product, "url", target, "next_update", crl.NextUpdate)
	}
	f.rememberCRL(product, der)
	if file != "" {
		if err := writeAtomic(file, der); err != nil {
			f.logger().Warn("CRL not cached on disk; it will be downloaded again after a restart", "file", file, "error", err)
		}
	}
	return der, nil
}

func (f *Fetcher) readCachedCRL(file string, now time.Time) []byte {
	data, err := readLimited(file, MaxCRLSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.logger().Warn("ignoring cached CRL", "file", file, "error", err)
		return nil
	}
	crl, der, err := parseCRL(data)
	if err != nil {
		f.logger().Warn("ignoring cached CRL", "file", file, "error", err)
		return nil
	}
	if !current(crl, now) {
		f.logger().Debug("cached CRL is past its next update", "file", file, "next_update", crl.NextUpdate)
		return nil
	}
	return der
}

// current reports whether a CRL may still be served from a cache at now. A
// list without NextUpdate is never reused: nothing says for how long it holds.
func current(crl *x509.RevocationList, now time.Time) bool {
	return !crl.NextUpdate.IsZero() && now.Before(crl.NextUpdate)
}

// shared runs load once for concurrent callers with the same key. If the
// caller running it gives up (its context ends), a waiter whose own context
// is still live tries again rather than inherit that cancellation.
func (f *Fetcher) shared(ctx context.Context, key string, load func(context.Context) ([]byte, error)) ([]byte, error) {
	for {
		f.mu.Lock()
		if f.inflight == nil {
			f.inflight = map[string]*call{}
		}
		if c, ok := f.inflight[key]; ok {
			f.mu.Unlock()
			select {
			case <-c.done:
				if c.err != nil && isContextError(c.err) && ctx.Err() == nil {
					continue
				}
				return c.der, c.err
			case <-ctx.Done():
				return nil, fmt.Errorf("kds: waiting for a download: %w", ctx.Err())
			}
		}
		c := &call{done: make(chan struct{})}
		f.inflight[key] = c
		f.mu.Unlock()

		c.der, c.err = load(ctx)

		f.mu.Lock()
		delete(f.inflight, key)
		f.mu.Unlock()
		close(c.done)
		return c.der, c.err
	}
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (f *Fetcher) memoryVCEK(key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	der, ok := f.vceks[key]
	return der, ok
}

func (f *Fetcher) rememberVCEK(key string, der []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vceks == nil {
		f.vceks = map[string][]byte{}
	}
	if _, ok := f.vceks[key]; !ok && len(f.vceks) >= maxMemoryVCEKs {
		for old := range f.vceks { // any one: the disk cache still has it
			delete(f.vceks, old)
			break
		}
	}
	f.vceks[key] = der
}

// memoryCRL returns the cached CRL of product if it is still current.
func (f *Fetcher) memoryCRL(product string, now time.Time) []byte {
	f.mu.Lock()
	der := f.crls[product]
	f.mu.Unlock()
	if der == nil {
		return nil
	}
	crl, _, err := parseCRL(der)
	if err != nil || !current(crl, now) {
		return nil
	}
	return der
}

func (f *Fetcher) rememberCRL(product string, der []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crls == nil {
		f.crls = map[string][]byte{}
	}
	f.crls[product] = der
}

func (f *Fetcher) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return &http.Client{Timeout: defaultTimeout}
}

// baseURL parses BaseURL, without a trailing slash.
func (f *Fetcher) baseURL() (*url.URL, error) {
	raw := f.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("kds: base URL %q is not an http(s) URL without query: fix the KDS URL setting", raw)
	}
	for len(u.Path) > 0 && u.Path[len(u.Path)-1] == '/' {
		u.Path = u.Path[:len(u.Path)-1]
	}
	u.RawPath = ""
	return u, nil
}

// download describes one GET and how to explain its failure.
type download struct {
	what     string // "the VCEK for Milan chip …"
	url      string
	host     string
	limit    int
	remedy   string // what to do when KDS cannot be used
	notFound string // what to do on 404
}

func (f *Fetcher) download(ctx context.Context, d download) ([]byte, error) {
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return nil, fmt.Errorf("kds: building the request for %s: %v", d.url, err)
	}
	httpReq.Header.Set("User-Agent", "donjon-kds/1")
	resp, err := f.client().Do(httpReq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kds: fetching %s: %w", d.what, ctx.Err())
		}
		// The URL is in the remedy already; keep only the cause.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("%w: no network access to %s (%v): %s", ErrUnavailable, d.host, err, d.remedy)
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s has no %s (HTTP 404 for %s): %s", ErrNotFound, d.host, d.what, d.url, d.notFound)
	case code == http.StatusTooManyRequests:
		wait := ""
		if s := resp.Header.Get("Retry-After"); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 {
				wait = fmt.Sprintf(", retry after %d s", n)
			}
		}
		return nil, fmt.Errorf("%w: %s rate-limited the request for %s (HTTP 429%s): try again later, or %s", ErrUnavailable, d.host, d.what, wait, d.remedy)
	case code >= 500:
		return nil, fmt.Errorf("%w: %s failed (HTTP %d) fetching %s: try again later, or %s", ErrUnavailable, d.host, code, d.what, d.remedy)
	default:
		return nil, fmt.Errorf("%w: %s answered HTTP %d for %s: check BaseURL and any proxy, or %s", ErrBadResponse, d.host, code, d.url, d.remedy)
	}

	if resp.ContentLength > int64(d.limit) {
		return nil, fmt.Errorf("%w: %s sent %d bytes for %s, the limit is %d: check BaseURL and any proxy", ErrBadResponse, d.host, resp.ContentLength, d.what, d.limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(d.limit)+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kds: fetching %s: %w", d.what, ctx.Err())
		}
		return nil, fmt.Errorf("%w: reading %s from %s: %v: try again later, or %s", ErrUnavailable, d.what, d.host, err, d.remedy)
	}
	if len(body) > d.limit {
		return nil, fmt.Errorf("%w: %s sent more than %d bytes for %s: check BaseURL and any proxy", ErrBadResponse, d.host, d.limit, d.what)
	}
	return body, nil
}

// readLimited reads a whole file of at most limit bytes.
func readLimited(path string, limit int) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory and a rename, so that readers never see half a file. The
// contents are public certificates, hence 0644. No fsync: a file lost or
// truncated in a crash fails to parse and is downloaded again.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}
