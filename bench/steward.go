package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"donjon.dev/attest"
	"donjon.dev/attest/policy"
	"donjon.dev/attest/snp"
	"donjon.dev/identity"
	"donjon.dev/steward"
	"donjon.dev/steward/stewardclient"
	"donjon.dev/tee"
	"donjon.dev/tee/teetest"
)

// The workload the bench's keeps bind into their evidence, and which the
// steward's policy allows.
var (
	stewardModule = sha256.Sum256([]byte("bench: the workload's wasm module"))
	stewardConfig = sha256.Sum256([]byte("bench: the workload's Donjon.toml"))
)

// The three things measured for each platform, in the order of a round's
// first rotation.
const (
	measureHTTP   = "HTTP baseline: GET /healthz"
	measureVerify = "verify only (in-process)"
	measureIssue  = "verify and issue: POST /"
)

// loadSide is one thing measured under load: every request's latency, and
// the wall time of the batches that ran them.
type loadSide struct {
	latencies []time.Duration // every request, all rounds
	roundP50  []time.Duration // each round's median latency, for paired ratios
	wall      time.Duration   // the batches' wall time, summed
	cpu       time.Duration   // this process's CPU time (user and system) over the batches
}

func (s *loadSide) add(b batchResult) {
	s.latencies = append(s.latencies, b.latencies...)
	s.roundP50 = append(s.roundP50, percentile(b.latencies, 50))
	s.wall += b.wall
	s.cpu += b.cpu
}

// perSecond is the side's throughput: requests completed over the time the
// batches took.
func (s *loadSide) perSecond() float64 {
	if s.wall <= 0 {
		return 0
	}
	return float64(len(s.latencies)) / s.wall.Seconds()
}

// perCPUSecond is the side's requests per second of this process's CPU
// time: what one core does when it is not shared, whatever else the
// machine runs. It counts the clients' CPU too (and the garbage collector).
func (s *loadSide) perCPUSecond() float64 {
	if s.cpu <= 0 {
		return 0
	}
	return float64(len(s.latencies)) / s.cpu.Seconds()
}

// stewardCase is one platform's keeps, their requests, and what the steward
// did with them.
type stewardCase struct {
	Platform attest.Platform
	Name     string
	backend  tee.Platform // the fake device the keeps attest on
	made     int          // keeps made so far, for error messages

	http, verify, issue loadSide
}

// side is where the measure kind's figures go.
func (c *stewardCase) side(kind string) *loadSide {
	switch kind {
	case measureHTTP:
		return &c.http
	case measureVerify:
		return &c.verify
	}
	return &c.issue
}

// keeps makes n keeps' certificate requests, each keep with its own key
// and evidence. Untimed: this is the keeps' work, not the steward's.
func (c *stewardCase) keeps(ctx context.Context, n int) ([][]byte, error) {
	csrs := make([][]byte, 0, n)
	for range n {
		c.made++
		id, err := identity.New(ctx, c.backend, stewardModule, stewardConfig)
		if err != nil {
			return nil, fmt.Errorf("steward bench: %s keep %d: %w", c.Name, c.made, err)
		}
		csr, err := id.CSR()
		if err != nil {
			return nil, fmt.Errorf("steward bench: %s keep %d: CSR: %w", c.Name, c.made, err)
		}
		csrs = append(csrs, csr)
	}
	return csrs, nil
}

type stewardResults struct {
	cases   []*stewardCase
	clients int // concurrent clients, also the verify-only workers
	procs   int // GOMAXPROCS: the cores the steward and its clients share
	rounds  int // rounds planned
	ran     int // rounds run: fewer when the time budget ran out
	issued  int // certificates issued, each answer parsed and checked
}

// stewardBench is a steward on loopback with a real HTTP client.
type stewardBench struct {
	steward *steward.Steward
	url     string
	client  *http.Client
}

// runSteward measures the steward in this process: certificate requests
// carrying SNP and TDX evidence from fake devices (real wire formats, test
// vendor chains), verified in-process, and verified and issued over HTTP on
// loopback, against the same HTTP path answering a trivial request. The
// rounds interleave the three, rotating their order.
func runSteward(ctx context.Context, o options, work string) (*stewardResults, error) {
	res := &stewardResults{clients: o.StewardClients, procs: runtime.GOMAXPROCS(0), rounds: stewardRounds(o.StewardRequests)}
	now := time.Now()
	fakeSNP, err := teetest.NewFakeSNP(teetest.SNPOptions{Created: now.Add(-time.Hour)})
	if err != nil {
		return nil, fmt.Errorf("steward bench: fake SNP device: %w", err)
	}
	fakeTDX, err := teetest.NewFakeTDX(teetest.TDXOptions{Created: now.Add(-time.Hour)})
	if err != nil {
		return nil, fmt.Errorf("steward bench: fake TDX device: %w", err)
	}
	res.cases = []*stewardCase{
		{Platform: attest.PlatformSNP, Name: "SNP", backend: tee.NewSNP(fakeSNP.Client)},
		{Platform: attest.PlatformTDX, Name: "TDX", backend: tee.NewTDX(fakeTDX.Client)},
	}

	// A directory of its own: a -work directory kept from an earlier run
	// must not lend this one its issuance log.
	dir, err := os.MkdirTemp(work, "steward-")
	if err != nil {
		return nil, fmt.Errorf("steward bench: state directory: %w", err)
	}
	defer os.RemoveAll(dir)
	pol, err := policy.Parse([]byte(fmt.Sprintf("platforms = [\"snp\", \"tdx\"]\n[workload]\nmodules = [\"%x\"]\n", stewardModule)), "bench policy")
	if err != nil {
		return nil, fmt.Errorf("steward bench: policy: %w", err)
	}
	ca, _, err := steward.LoadOrCreateCA(dir, "donjon bench steward CA", now)
	if err != nil {
		return nil, fmt.Errorf("steward bench: %w", err)
	}
	issuanceLog, err := steward.OpenLog(ctx, filepath.Join(dir, steward.LogFile))
	if err != nil {
		return nil, fmt.Errorf("steward bench: %w", err)
	}
	defer issuanceLog.Close()
	s, err := steward.New(steward.Config{
		CA: ca, Policy: pol, Log: issuanceLog,
		SNPRoots: []snp.Root{fakeSNP.Root}, TDXRoots: []*x509.Certificate{fakeTDX.Root},
	})
	if err != nil {
		return nil, fmt.Errorf("steward bench: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("steward bench: listen on loopback: %w", err)
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- s.Serve(serveCtx, ln) }()
	// Keep-alive connections, one per client, as a busy steward's callers
	// would hold; a fresh Transport has no proxy.
	transport := &http.Transport{
		MaxIdleConns:        o.StewardClients,
		MaxIdleConnsPerHost: o.StewardClients,
		MaxConnsPerHost:     o.StewardClients,
		DisableCompression:  true,
	}
	b := &stewardBench{steward: s, url: "http://" + ln.Addr().String(), client: &http.Client{Transport: transport, Timeout: o.RunTimeout}}
	err = b.measure(ctx, o, res, now)
	transport.CloseIdleConnections()
	stopServing()
	if serr := <-served; err == nil && serr != nil {
		err = fmt.Errorf("steward bench: %w", serr)
	}
	if err != nil {
		return nil, err
	}
	// The log is the steward's own record: it must hold every certificate
	// handed out, warm-up included.
	logged, err := issuanceLog.Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("steward bench: %w", err)
	}
	if logged != res.issued {
		return nil, fmt.Errorf("steward bench: the issuance log has %d certificates, the clients received %d", logged, res.issued)
	}
	return res, nil
}

// stewardRounds splits the requests into rounds of at least ten, at most
// ten rounds: enough rounds for a spread, enough requests in each for a
// median.
func stewardRounds(requests int) int { return max(1, min(10, requests/10)) }

// measure warms each path up, then runs the rounds, each with keeps of
// its own, until all have run or the time budget since start is spent
// (two rounds at least, for a spread).
func (b *stewardBench) measure(ctx context.Context, o options, res *stewardResults, start time.Time) error {
	kinds := []string{measureHTTP, measureVerify, measureIssue}
	for _, c := range res.cases {
		// Warm-up, untimed: opens the clients' connections and runs every
		// path once per client.
		csrs, err := c.keeps(ctx, o.StewardClients)
		if err != nil {
			return err
		}
		for _, kind := range kinds {
			if _, err := b.batch(ctx, o.StewardClients, c, kind, csrs, &res.issued); err != nil {
				return err
			}
		}
	}
	for round := range res.rounds {
		if round >= 2 && time.Since(start) >= o.StewardTime {
			o.Log.Warn("steward: time budget spent, fewer requests than asked", "rounds", fmt.Sprintf("%d/%d", round, res.rounds), "budget", o.StewardTime)
			break
		}
		o.Log.Info("steward", "round", fmt.Sprintf("%d/%d", round+1, res.rounds))
		for _, c := range res.cases {
			csrs, err := c.keeps(ctx, (round+1)*o.StewardRequests/res.rounds-round*o.StewardRequests/res.rounds)
			if err != nil {
				return err
			}
			for i := range kinds {
				kind := kinds[(i+round)%len(kinds)]
				br, err := b.batch(ctx, o.StewardClients, c, kind, csrs, &res.issued)
				if err != nil {
					return err
				}
				c.side(kind).add(br)
			}
		}
		res.ran++
	}
	return nil
}

// batch runs one request of kind per CSR in csrs (the HTTP baseline sends
// none but makes as many requests) with the given number of concurrent
// clients, and checks every answer.
func (b *stewardBench) batch(ctx context.Context, clients int, c *stewardCase, kind string, csrs [][]byte, issued *int) (batchResult, error) {
	var do func(ctx context.Context, csr []byte) (time.Duration, error)
	switch kind {
	case measureHTTP:
		do = b.healthz
	case measureVerify:
		do = func(ctx context.Context, csr []byte) (time.Duration, error) { return b.verify(ctx, c, csr) }
	case measureIssue:
		do = func(ctx context.Context, csr []byte) (time.Duration, error) { return b.issue(ctx, c, csr) }
	default:
		return batchResult{}, fmt.Errorf("internal error: unknown steward measure %q", kind)
	}
	cpuBefore, err := processCPU()
	if err != nil {
		return batchResult{}, err
	}
	lat, wall, err := load(ctx, clients, len(csrs), func(ctx context.Context, i int) (time.Duration, error) { return do(ctx, csrs[i]) })
	if err != nil {
		return batchResult{}, fmt.Errorf("steward bench: %s %s: %w", c.Name, kind, err)
	}
	cpuAfter, err := processCPU()
	if err != nil {
		return batchResult{}, err
	}
	if kind == measureIssue {
		*issued += len(csrs)
	}
	return batchResult{latencies: lat, wall: wall, cpu: cpuAfter - cpuBefore}, nil
}

// batchResult is what one batch of requests measured.
type batchResult struct {
	latencies []time.Duration
	wall, cpu time.Duration
}

// processCPU is the CPU time this process has used so far, user and
// system, all threads.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("steward bench: CPU time: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// healthz is the baseline: the same client, connection pool and server
// answering a request that does no work.
func (b *stewardBench) healthz(ctx context.Context, _ []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/healthz", nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	status, body, err := b.roundTrip(req)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK || string(body) != "ok\n" {
		return 0, fmt.Errorf("GET /healthz answered %d %q, want 200 \"ok\"", status, clip(string(body), 200))
	}
	return took, nil
}

func (b *stewardBench) verify(ctx context.Context, c *stewardCase, csr []byte) (time.Duration, error) {
	start := time.Now()
	r, _, err := b.steward.Verify(ctx, csr)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("the steward refused a valid request: %w", err)
	}
	if r.Claims.Platform != c.Platform {
		return 0, fmt.Errorf("verified as %s, want %s", r.Claims.Platform, c.Platform)
	}
	return took, nil
}

func (b *stewardBench) issue(ctx context.Context, c *stewardCase, csr []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url+"/", bytes.NewReader(csr))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", steward.ContentTypeCSR)
	start := time.Now()
	status, body, err := b.roundTrip(req)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("POST / answered %d: %s", status, clip(string(body), 200))
	}
	chain, err := stewardclient.ParsePkiPath(body)
	if err != nil {
		return 0, fmt.Errorf("the answer is not a PkiPath: %w", err)
	}
	if want := "donjon keep (" + c.Platform.String() + ")"; len(chain) != 2 || chain[1].Subject.CommonName != want {
		return 0, fmt.Errorf("the answer holds %d certificates, the last for %q; want the CA's and one for %q", len(chain), chain[len(chain)-1].Subject.CommonName, want)
	}
	return took, nil
}

// maxAnswer bounds what the bench reads of an answer: a PkiPath of two
// certificates is a few kilobytes.
const maxAnswer = 1 << 20

// roundTrip sends req and reads the whole answer, so that the connection
// goes back to the pool for the next request.
func (b *stewardBench) roundTrip(req *http.Request) (int, []byte, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// load runs requests 0..n-1 from the given number of concurrent workers,
// each taking the next request as soon as it is done with one. It returns
// the latency each request reported, by request, and the wall time of the
// whole batch. The first error stops the batch.
func load(ctx context.Context, workers, n int, do func(ctx context.Context, i int) (time.Duration, error)) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				took, err := do(ctx, i)
				if err != nil {
					cancel(fmt.Errorf("request %d: %w", i, err))
					return
				}
				latencies[i] = took
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return nil, 0, err
	}
	if n > 0 && wall <= 0 {
		return nil, 0, errors.New("the clock did not advance over a batch")
	}
	return latencies, wall, nil
}

// percentile is the nearest-rank p-th percentile of ds: the smallest value
// at least p percent of ds are less than or equal to. Zero for no values.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(float64(len(s)) * p / 100))
	return s[min(max(rank, 1), len(s))-1]
}

func (r *stewardResults) write(w io.Writer) error {
	fmt.Fprintf(w, "\n## Steward: certificate requests, verified and issued over HTTP on loopback\n\n")
	budget := ""
	if r.ran < r.rounds {
		budget = fmt.Sprintf(" of %d (the time budget ran out)", r.rounds)
	}
	fmt.Fprintf(w, `In one process: a steward served by net/http on 127.0.0.1 and %d concurrent clients on keep-alive
connections, sharing GOMAXPROCS = %d cores. Each request is a distinct keep's CSR with evidence from a
fake device (real formats, test vendor chains); the issuance log is SQLite with synchronous=FULL.
%d rounds%s interleave the three measures, rotating their order.
req/s per core: req/s divided by GOMAXPROCS (%d). req per CPU-s: requests per second of this
process's CPU time (steward and clients), which other programs on the machine do not change.
Latency: from sending the request to having the whole answer (verify only: the Verify call).

`, r.clients, r.procs, r.ran, budget, r.procs)
	t := &table{header: []string{"platform", "measure", "requests", "req/s", "req/s per core", "req per CPU-s", "p50 ms", "p99 ms"}}
	for _, c := range r.cases {
		for _, m := range []struct {
			name string
			side *loadSide
		}{{measureHTTP, &c.http}, {measureVerify, &c.verify}, {measureIssue, &c.issue}} {
			rps := m.side.perSecond()
			t.add(c.Name, m.name, fmt.Sprint(len(m.side.latencies)), rateCell(rps), rateCell(rps/float64(r.procs)), rateCell(m.side.perCPUSecond()),
				durationMsCell(percentile(m.side.latencies, 50)), durationMsCell(percentile(m.side.latencies, 99)))
		}
	}
	if err := t.write(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nRatios of latencies: p50 ratio is the median over the rounds of each round's p50 ratio, spread\n")
	fmt.Fprintf(w, "their lowest and highest; p99 ratio is of the whole run's p99s.\n\n")
	t = &table{header: []string{"platform", "ratio", "p50 ratio", "spread", "p99 ratio"}}
	for _, c := range r.cases {
		for _, q := range []struct {
			name     string
			baseline *loadSide
		}{{"issue / verify only", &c.verify}, {"issue / HTTP baseline", &c.http}} {
			ratios, err := pairedRatios(c.issue.roundP50, q.baseline.roundP50)
			if err != nil {
				return fmt.Errorf("steward %s %s: %w", c.Name, q.name, err)
			}
			p99 := percentile(q.baseline.latencies, 99)
			if p99 <= 0 {
				return fmt.Errorf("steward %s %s: the baseline's p99 is %v: cannot divide by it", c.Name, q.name, p99)
			}
			s := summarize(ratios)
			t.add(c.Name, q.name, ratioCell(s.Median), spreadCell(s), ratioCell(float64(percentile(c.issue.latencies, 99))/float64(p99)))
		}
	}
	if err := t.write(w); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nEvery answer was checked: %d certificates issued (warm-up included), each a PkiPath of the CA and a\nkeep certificate for the right platform, and as many rows in the issuance log.\n", r.issued)
	return err
}

// rateCell prints requests per second with three significant figures or so.
func rateCell(perSecond float64) string {
	if perSecond >= 100 {
		return fmt.Sprintf("%.0f", perSecond)
	}
	return fmt.Sprintf("%.1f", perSecond)
}

// durationMsCell prints a latency in milliseconds, sub-millisecond ones
// with enough digits to be told apart.
func durationMsCell(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return fmt.Sprintf("%.3f", ms)
	}
	return msCell(ms)
}
