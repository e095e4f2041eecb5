package signalserver

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pion/turn/v4"

	"github.com/natkit/natkit/signalserver/protocol"
)

// ICECredentials is the body of GET /v1/ice-servers: the TURN REST API
// shape and, in the same body, ice_servers in RTCPeerConnection's shape.
type ICECredentials struct {
	Username   string               `json:"username"`
	Password   string               `json:"password"`
	TTL        int64                `json:"ttl"`
	URIs       []string             `json:"uris"`
	ICEServers []protocol.ICEServer `json:"ice_servers"`
}

// MintICECredentials makes coturn use-auth-secret credentials: username
// "expiry:user", password base64(HMAC-SHA1(secret, username)).
func MintICECredentials(secret, user string, ttl time.Duration, uris []string) (ICECredentials, error) {
	username, password, err := turn.GenerateLongTermTURNRESTCredentials(secret, user, ttl)
	if err != nil {
		return ICECredentials{}, fmt.Errorf("mint turn credentials: %w", err)
	}
	return ICECredentials{
		Username: username, Password: password, TTL: int64(ttl / time.Second), URIs: uris,
		ICEServers: []protocol.ICEServer{{URLs: uris, Username: username, Credential: password}},
	}, nil
}

func (s *Server) iceServersFor(user string) []protocol.ICEServer {
	if len(s.cfg.TURNSecrets) == 0 {
		return nil
	}
	c, err := MintICECredentials(s.cfg.TURNSecrets[0], user, s.cfg.TokenTTL, s.cfg.TURNURLs)
	if err != nil {
		return nil
	}
	s.metrics.tokens.Inc()
	return c.ICEServers
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type httpError struct {
	Error string `json:"error"`
}

func (s *Server) handleICEServers(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r) {
		s.refuseHost(w, r)
		return
	}
	if !s.cors(w, r) {
		writeJSON(w, http.StatusForbidden, httpError{fmt.Sprintf("origin %q is not allowed", r.Header.Get("Origin"))})
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, OPTIONS")
		writeJSON(w, http.StatusMethodNotAllowed, httpError{"use GET"})
		return
	}
	if !s.tokenLimiter.allow(clientIP(r), time.Now()) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, httpError{"rate limited: too many credential requests from " + clientIP(r)})
		return
	}
	if len(s.cfg.TURNSecrets) == 0 {
		writeJSON(w, http.StatusServiceUnavailable, httpError{"no TURN secret configured (natkit signal --turn-secret)"})
		return
	}
	user := r.URL.Query().Get("user")
	if user == "" {
		user = "natkit"
	}
	if err := protocol.ValidID("user", user); err != nil {
		writeJSON(w, http.StatusBadRequest, httpError{err.Error()})
		return
	}
	if s.cfg.AuthSecret != "" {
		tok := r.URL.Query().Get("token")
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			tok = strings.TrimPrefix(h, "Bearer ")
		}
		if _, err := VerifyRoomToken(s.cfg.AuthSecret, tok, time.Now()); err != nil {
			writeJSON(w, http.StatusUnauthorized, httpError{err.Error()})
			return
		}
	}
	creds, err := MintICECredentials(s.cfg.TURNSecrets[0], user, s.cfg.TokenTTL, s.cfg.TURNURLs)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, httpError{err.Error()})
		return
	}
	s.metrics.tokens.Inc()
	writeJSON(w, http.StatusOK, creds)
}
