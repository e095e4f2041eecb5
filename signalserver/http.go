package signalserver

import (
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
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
