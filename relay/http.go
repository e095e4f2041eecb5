package relay

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /metrics (the relay's Prometheus metrics, plus those of
// extra, e.g. Go runtime collectors) and /healthz, which answers 200 "ok"
// while the relay runs and 503 once it is draining or closed.
func (s *Server) Handler(extra ...prometheus.Gatherer) http.Handler {
	gs := prometheus.Gatherers{s.reg}
	gs = append(gs, extra...)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(gs, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case s.closed.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "closed\n")
		case s.draining.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "draining\n")
		default:
			_, _ = io.WriteString(w, "ok\n")
		}
	})
	return mux
}
