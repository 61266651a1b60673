package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/framegate/framegate/gateway"
)

// metrics are the gateway's Prometheus metrics, on a registry of their own
// (with the Go runtime and process collectors), served at GET /metrics.
type metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	// schemaRefused counts backend schemas refused for changing served
	// fields (gateway.WithSchemaChangeObserver).
	schemaRefused prometheus.Counter
	// reloads counts configuration reloads, by result: applied or
	// refused (reload.go).
	reloads *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "framegate_gateway_calls_total",
			Help: "Calls through the gateway, by native endpoint, protocol (grpc or http) and status code.",
		}, []string{"endpoint", "protocol", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "framegate_gateway_call_duration_seconds",
			Help:    "Time from a call's arrival to the end of its response, streams included.",
			Buckets: prometheus.ExponentialBucketsRange(0.0005, 300, 18),
		}, []string{"endpoint", "protocol"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "framegate_gateway_stream_bytes_total",
			Help: "Stream bytes passed through the gateway: direction in is request streams (client to backend), out is response streams.",
		}, []string{"endpoint", "protocol", "direction"}),
		schemaRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "framegate_gateway_schema_changes_refused_total",
			Help: "Backend schemas the gateway refused because they change the number or type of a field it serves (it keeps serving the old schema until restarted).",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "framegate_gateway_config_reloads_total",
			Help: "Configuration reloads (SIGHUP, or a change of the -config file or a file it names), by result: applied, or refused (the configuration before keeps serving).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.calls, m.duration, m.bytes, m.schemaRefused, m.reloads,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe is the gateway's call observer.
func (m *metrics) observe(ev gateway.CallEvent) {
	m.calls.WithLabelValues(ev.Endpoint, ev.Protocol, codes.Code(ev.Code).String()).Inc()
	m.duration.WithLabelValues(ev.Endpoint, ev.Protocol).Observe(ev.Duration.Seconds())
	if ev.BytesIn > 0 {
		m.bytes.WithLabelValues(ev.Endpoint, ev.Protocol, "in").Add(float64(ev.BytesIn))
	}
	if ev.BytesOut > 0 {
		m.bytes.WithLabelValues(ev.Endpoint, ev.Protocol, "out").Add(float64(ev.BytesOut))
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// registerRemote adds the remote backends' metrics: the state and the
// connection pool of each process, labelled with its backend (the -backend
// value) and its replica (its address; the backend's for one process).
func (m *metrics) registerRemote(backends func() []*remoteEntry) {
	m.reg.MustRegister(remoteCollector{backends})
}

var (
	descUp         = prometheus.NewDesc("framegate_backend_up", "1 while the process takes calls (reachable, and for a replica, with the schema served), 0 while not: its calls fail with UNAVAILABLE or go to other replicas.", []string{"backend", "replica"}, nil)
	descReconnects = prometheus.NewDesc("framegate_backend_reconnects_total", "Times the remote backend came back after being down.", []string{"backend", "replica"}, nil)
	descPoolSize   = prometheus.NewDesc("framegate_backend_pool_size", "The most connections the pool to the remote backend keeps (-pool-size).", []string{"backend", "replica"}, nil)
	descPoolConns  = prometheus.NewDesc("framegate_backend_pool_connections", "Connections of the pool to the remote backend, by state: open (all) or idle (without a call).", []string{"backend", "replica", "state"}, nil)
	descPoolDials  = prometheus.NewDesc("framegate_backend_pool_dials_total", "Connections the pool dialled.", []string{"backend", "replica"}, nil)
	descPoolFails  = prometheus.NewDesc("framegate_backend_pool_dial_failures_total", "Dials of the pool that failed.", []string{"backend", "replica"}, nil)
	descPoolWaits  = prometheus.NewDesc("framegate_backend_pool_waits_total", "Calls that had to wait for a free connection of the pool.", []string{"backend", "replica"}, nil)
	descPoolRetry  = prometheus.NewDesc("framegate_backend_pool_retries_total", "Calls made again on another connection: the backend went away (CLOSE) without taking them.", []string{"backend", "replica"}, nil)
)

// remoteCollector reads the backend's state and pool counters at each
// scrape.
type remoteCollector struct{ backends func() []*remoteEntry } // those served now

func (c remoteCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descReconnects, descPoolSize, descPoolConns, descPoolDials, descPoolFails, descPoolWaits, descPoolRetry} {
		ch <- d
	}
}

func (c remoteCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.backends() {
		for _, r := range b.replicas() {
			st, ps, l := r.status, r.pool, []string{b.name, r.name}
			up := 0.0
			if r.up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, l...)
			ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(st.Reconnects), l...)
			ch <- prometheus.MustNewConstMetric(descPoolSize, prometheus.GaugeValue, float64(ps.Size), l...)
			ch <- prometheus.MustNewConstMetric(descPoolConns, prometheus.GaugeValue, float64(ps.Open), append(l, "open")...)
			ch <- prometheus.MustNewConstMetric(descPoolConns, prometheus.GaugeValue, float64(ps.Idle), append(l, "idle")...)
			ch <- prometheus.MustNewConstMetric(descPoolDials, prometheus.CounterValue, float64(ps.Dials), l...)
			ch <- prometheus.MustNewConstMetric(descPoolFails, prometheus.CounterValue, float64(ps.Failures), l...)
			ch <- prometheus.MustNewConstMetric(descPoolWaits, prometheus.CounterValue, float64(ps.Waits), l...)
			ch <- prometheus.MustNewConstMetric(descPoolRetry, prometheus.CounterValue, float64(ps.Retries), l...)
		}
	}
}
