package keys

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Manager's Prometheus collectors.
type metrics struct {
	rotations  *prometheus.CounterVec
	jwksServed prometheus.Counter
	collectors []prometheus.Collector
}

func newMetrics(m *Manager) *metrics {
	mt := &metrics{
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_key_rotations_total",
			Help: "Signing keys that started signing, by alg and reason (initial, scheduled, manual, deleted).",
		}, []string{"alg", "reason"}),
		jwksServed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_jwks_served_total",
			Help: "JWKS documents handed out (JWKS calls).",
		}),
	}
	mt.collectors = append(mt.collectors, mt.rotations, mt.jwksServed)
	for _, alg := range supportedAlgs() {
		mt.collectors = append(mt.collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "authd_signing_key_age_seconds",
			Help:        "Seconds since the active signing key of alg was activated.",
			ConstLabels: prometheus.Labels{"alg": alg},
		}, func() float64 { return m.activeAge(alg).Seconds() }))
	}
	return mt
}

// register adds the collectors to r; on failure none stays registered.
func (mt *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	for i, c := range mt.collectors {
		if err := r.Register(c); err != nil {
			for _, done := range mt.collectors[:i] {
				r.Unregister(done)
			}
			return fmt.Errorf("keys: register metrics: %w", err)
		}
	}
	return nil
}
