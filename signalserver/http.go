package signalserver

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/natkit/natkit/internal/pprofhttp"
)

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
	ps, err := pprofhttp.Start(s.cfg.Net, s.cfg.PprofAddr, s.log, "signal")
	if err != nil {
		return fmt.Errorf("signal pprof %s: %w", s.cfg.PprofAddr, err)
	}
	s.pprof = ps
	return nil
}

// PprofAddr is the address /debug/pprof/ is served on, or nil when
// Config.PprofAddr is empty.
func (s *Server) PprofAddr() net.Addr { return s.pprof.Addr() }
