package signalserver

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
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
