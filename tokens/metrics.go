package tokens

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	issued  *prometheus.CounterVec
	reuse   prometheus.Counter
	retries prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_tokens_issued_total", Help: "Token responses issued, by grant type.",
		}, []string{"grant_type"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_refresh_token_reuse_total", Help: "Refresh tokens presented again after rotation (theft signals); each revoked a login.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_refresh_token_retries_total", Help: "Previous refresh tokens accepted again inside the reuse leeway.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.issued, m.reuse, m.retries)
	}
	return m
}
