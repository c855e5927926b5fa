package steward

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the steward's Prometheus series, on a registry of its own (no
// global state: two stewards in one process do not share counters).
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec   // by outcome
	rejected *prometheus.CounterVec   // by rule
	issued   *prometheus.CounterVec   // by platform
	duration *prometheus.HistogramVec // by outcome

	sealingRequests *prometheus.CounterVec // by outcome
	sealingRejected *prometheus.CounterVec // by rule
}

// Request outcomes, the values of the "outcome" label.
const (
	outcomeIssued     = "issued"
	outcomeBadRequest = "bad_request"
	outcomeForbidden  = "forbidden"
	outcomeError      = "error"
	// Sealing key requests end as released, bad_request, forbidden, error,
	// or unavailable (the steward has no sealing secret).
	outcomeReleased    = "released"
	outcomeUnavailable = "unavailable"
)

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "donjon_steward_requests_total",
			Help: "Certificate requests by outcome: issued, bad_request (400), forbidden (403), error (5xx).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "donjon_steward_rejections_total",
			Help: "Refused certificate requests by the rule they failed.",
		}, []string{"rule"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "donjon_steward_issued_total",
			Help: "Certificates issued by keep platform.",
		}, []string{"platform"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "donjon_steward_request_duration_seconds",
			Help:    "Time to answer a certificate request, by outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"outcome"}),
	}
	m.sealingRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "donjon_steward_sealing_key_requests_total",
		Help: "Sealing key requests by outcome: released, bad_request (400/413), forbidden (403), unavailable (501: no sealing secret), error (5xx).",
	}, []string{"outcome"})
	m.sealingRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "donjon_steward_sealing_key_rejections_total",
		Help: "Refused sealing key requests by the rule they failed.",
	}, []string{"rule"})
	m.registry.MustRegister(m.requests, m.rejected, m.issued, m.duration, m.sealingRequests, m.sealingRejected,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{outcomeIssued, outcomeBadRequest, outcomeForbidden, outcomeError} {
		m.requests.WithLabelValues(o)
	}
	for _, o := range []string{outcomeReleased, outcomeBadRequest, outcomeForbidden, outcomeUnavailable, outcomeError} {
		m.sealingRequests.WithLabelValues(o)
	}
	return m
}
