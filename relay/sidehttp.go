package relay

import (
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/natkit/natkit/internal/sidehttp"
)

// startPprof serves /debug/pprof/ on Config.PprofAddr, apart from the TURN
// listeners and from Handler's /metrics, so that profiles are only ever
// exposed where the operator asked for them.
func (s *Server) startPprof() error {
	if s.cfg.PprofAddr == "" {
		return nil
	}
	ps, err := sidehttp.Start(s.cfg.Net, s.cfg.PprofAddr, s.log, "relay")
	if err != nil {
		return &ListenError{Network: "pprof", Addr: s.cfg.PprofAddr, Err: err}
	}
	s.pprof = ps
	return nil
}

// startMetrics serves Handler, with the Go runtime and process collectors,
// on Config.MetricsAddr.
func (s *Server) startMetrics() error {
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	proc := prometheus.NewRegistry()
	proc.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ms, err := sidehttp.Listen(s.cfg.Net, s.cfg.MetricsAddr, s.Handler(proc))
	if err != nil {
		return &ListenError{Network: "metrics", Addr: s.cfg.MetricsAddr, Err: err}
	}
	s.metrics = ms
	return nil
}

// MetricsAddr is the address /metrics is served on, or nil when
// Config.MetricsAddr is empty.
func (s *Server) MetricsAddr() net.Addr { return s.metrics.Addr() }

// PprofAddr is the address /debug/pprof/ is served on, or nil when
// Config.PprofAddr is empty.
func (s *Server) PprofAddr() net.Addr { return s.pprof.Addr() }
