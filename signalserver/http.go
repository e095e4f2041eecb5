package signalserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/natkit/natkit/internal/sidehttp"
)

// hostAllowed guards against DNS rebinding: a page on evil.example whose
// name is re-pointed at 127.0.0.1 is same-origin with us (Host = Origin =
// evil.example), so only the Host header tells it apart. Without room
// tokens (AuthSecret), the server answers only loopback names, the address
// the request arrived on, and the hosts of AllowedOrigins ("*" allows
// any). With room tokens, a page without one can neither join nor mint.
func (s *Server) hostAllowed(r *http.Request) bool {
	if s.cfg.AuthSecret != "" {
		return true
	}
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		if ip.IsLoopback() {
			return true
		}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().Unmap() == ip.Unmap() {
				return true
			}
		}
		return false
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" {
			return true
		}
		u, err := url.Parse(o)
		if err != nil {
			continue
		}
		if ok, _ := path.Match(strings.ToLower(u.Hostname()), h); ok {
			return true
		}
	}
	return false
}

// refuseHost answers a request whose Host failed hostAllowed.
func (s *Server) refuseHost(w http.ResponseWriter, r *http.Request) {
	msg := fmt.Sprintf("host %s is not allowed: without --auth-secret, natkit signal answers only loopback names, its own address and the hosts of --allowed-origin (protection against DNS rebinding); add --allowed-origin http://%s, or set --auth-secret", r.Host, r.Host)
	writeJSON(w, http.StatusMisdirectedRequest, httpError{msg})
}

// originAllowed applies the origin policy: no Origin (not a browser), the
// same origin, an AllowedOrigins entry, or — when AllowedOrigins is empty —
// any localhost origin.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if len(s.cfg.AllowedOrigins) == 0 {
		h := u.Hostname()
		if h == "localhost" {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	o := strings.ToLower(u.Scheme + "://" + u.Host)
	for _, p := range s.cfg.AllowedOrigins {
		if p == "*" {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(p), o); ok {
			return true
		}
	}
	return false
}

// cors sets the CORS headers for an allowed origin and reports whether the
// origin is allowed.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if !s.originAllowed(r) {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Vary", "Origin")
		w.Header().Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization")
		w.Header().Set("Access-Control-Max-Age", "600")
	}
	return true
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	conns, rooms := len(s.conns), len(s.rooms)
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "connections": conns, "rooms": rooms})
}

// startPprof serves /debug/pprof/ on Config.PprofAddr, apart from the
// signaling listener so that the profiles are never public by accident.
func (s *Server) startPprof() error {
	if s.cfg.PprofAddr == "" {
		return nil
	}
	ps, err := sidehttp.Start(s.cfg.Net, s.cfg.PprofAddr, s.log, "signal")
	if err != nil {
		return fmt.Errorf("signal pprof %s: %w", s.cfg.PprofAddr, err)
	}
	s.pprof = ps
	return nil
}

// startMetrics serves /metrics and /healthz on Config.MetricsAddr.
func (s *Server) startMetrics() error {
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	proc := prometheus.NewRegistry()
	proc.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{s.Gatherer(), proc}, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	ms, err := sidehttp.Listen(s.cfg.Net, s.cfg.MetricsAddr, mux)
	if err != nil {
		return fmt.Errorf("signal metrics %s: %w", s.cfg.MetricsAddr, err)
	}
	s.metricsHTTP = ms
	return nil
}

// MetricsAddr is the address /metrics is served on, or nil when
// Config.MetricsAddr is empty.
func (s *Server) MetricsAddr() net.Addr { return s.metricsHTTP.Addr() }

// Run serves HTTP (HTTPS when certFile is set) on l until ctx ends or
// serving fails, and returns the serving error (nil when ctx ended it).
// It does not Close the server: the caller drains and closes it.
func (s *Server) Run(ctx context.Context, l net.Listener, certFile, keyFile string) error {
	serve := func() error { return s.Serve(l, nil) }
	if certFile != "" {
		serve = func() error { return s.ServeTLS(l, certFile, keyFile) }
	}
	served := make(chan error, 1)
	go func() { served <- serve() }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		return err
	}
}

// PprofAddr is the address /debug/pprof/ is served on, or nil when
// Config.PprofAddr is empty.
func (s *Server) PprofAddr() net.Addr { return s.pprof.Addr() }
