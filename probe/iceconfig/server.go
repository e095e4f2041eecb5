package iceconfig

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/webrtc/v4"
)

// Scheme is the URL scheme of an ICE server.
type Scheme string

// Schemes natkit accepts (RFC 7064, RFC 7065). stuns: is not accepted:
// neither browsers nor pion's ICE agent gather through it.
const (
	SchemeSTUN  Scheme = "stun"
	SchemeTURN  Scheme = "turn"
	SchemeTURNS Scheme = "turns"
)

// Transport is the transport used to reach the server.
type Transport string

// Transports. turns: runs over TCP (TLS) by default, and over UDP (DTLS,
// RFC 7350) with ?transport=udp (RFC 7065).
const (
	TransportUDP Transport = "udp"
	TransportTCP Transport = "tcp"
)

// Default ports (RFC 7064, RFC 7065).
const (
	DefaultPort    = 3478
	DefaultTLSPort = 5349
)

// Server is one ICE server URL with its credentials.
type Server struct {
	Scheme    Scheme
	Host      string
	Port      int
	Transport Transport
	// ExplicitTransport is true when the URL carried ?transport=.
	ExplicitTransport bool
	Username          string
	// Credential is the TURN password. Never log or report it.
	Credential string
	// Source says where the server came from, for messages, e.g.
	// "--ice-servers ice.json: iceServers[0].urls[1]".
	Source string
	// Expires is the expiry time carried by a REST username
	// ("expiry:user"); zero for static usernames.
	Expires time.Time
	// TTL is the credential lifetime the input announced ("ttl"); zero if
	// it gave none.
	TTL time.Duration
}

// DTLS reports whether the server is TURN over DTLS (turns: with
// transport=udp).
func (s Server) DTLS() bool { return s.Scheme == SchemeTURNS && s.Transport == TransportUDP }

// IsTURN reports whether the server is a TURN server (turn: or turns:).
func (s Server) IsTURN() bool { return s.Scheme == SchemeTURN || s.Scheme == SchemeTURNS }

// Address returns host:port.
func (s Server) Address() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL returns the canonical URL, without credentials, e.g.
// "turn:203.0.113.7:3478?transport=tcp". The transport query is written
// only when the input had one or it differs from the scheme's default.
func (s Server) URL() string {
	u := string(s.Scheme) + ":" + s.Address()
	if s.Scheme == SchemeTURN && (s.ExplicitTransport || s.Transport != TransportUDP) || s.DTLS() {
		u += "?transport=" + string(s.Transport)
	}
	return u
}

// String is the URL, without credentials.
func (s Server) String() string { return s.URL() }

// ICEURL converts the server to the URL type of pion's ICE agent, with
// credentials filled in.
func (s Server) ICEURL() *stun.URI {
	u := &stun.URI{Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Credential, Proto: stun.ProtoTypeUDP}
	switch s.Scheme {
	case SchemeSTUN:
		u.Scheme = stun.SchemeTypeSTUN
	case SchemeTURN:
		u.Scheme = stun.SchemeTypeTURN
	case SchemeTURNS:
		u.Scheme = stun.SchemeTypeTURNS
	}
	if s.Transport == TransportTCP {
		u.Proto = stun.ProtoTypeTCP
	}
	return u
}

// WebRTC converts the server to a webrtc.ICEServer with one URL.
func (s Server) WebRTC() webrtc.ICEServer {
	is := webrtc.ICEServer{URLs: []string{s.URL()}}
	if s.IsTURN() {
		is.Username = s.Username
		is.Credential = s.Credential
		is.CredentialType = webrtc.ICECredentialTypePassword
	}
	return is
}

// CheckCredentials returns ErrMissingCredentials (in a *FieldError) for a
// TURN server without a username or credential, and nil otherwise.
func (s Server) CheckCredentials() error {
	if !s.IsTURN() {
		return nil
	}
	switch {
	case s.Username == "" && s.Credential == "":
		return &FieldError{Source: s.Source, Value: s.URL(), Err: errMissing("a username and a credential")}
	case s.Username == "":
		return &FieldError{Source: s.Source, Value: s.URL(), Err: errMissing("a username")}
	case s.Credential == "":
		return &FieldError{Source: s.Source, Value: s.URL(), Err: errMissing("a credential")}
	}
	return nil
}

type missingErr struct{ what string }

func errMissing(what string) error { return &missingErr{what} }

func (e *missingErr) Error() string {
	return ErrMissingCredentials.Error() + ": " + e.what + " is needed (--user/--credential, --secret, or username/credential in the json)"
}
func (e *missingErr) Unwrap() error { return ErrMissingCredentials }

// CheckExpiry returns an *ExpiredError when the server's REST username
// carries an expiry time before now, and nil otherwise (also for static
// usernames). It is a local check: no packet is sent.
func (s Server) CheckExpiry(now time.Time) error {
	if !s.IsTURN() {
		return nil
	}
	exp, ok := RESTExpiry(s.Username)
	if !ok || exp.After(now) {
		return nil
	}
	return &ExpiredError{Server: s.URL(), Username: s.Username, Expiry: exp, Now: now}
}

// Servers is an ordered list of ICE servers.
type Servers []Server

// WebRTC converts every server to a webrtc.ICEServer, for
// webrtc.Configuration.ICEServers.
func (ss Servers) WebRTC() []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.WebRTC())
	}
	return out
}

// ICEURLs converts every server to a pion ice URL, for ice.AgentConfig.Urls.
func (ss Servers) ICEURLs() []*stun.URI {
	out := make([]*stun.URI, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.ICEURL())
	}
	return out
}

// TURN returns the TURN servers only.
func (ss Servers) TURN() Servers {
	var out Servers
	for _, s := range ss {
		if s.IsTURN() {
			out = append(out, s)
		}
	}
	return out
}

// STUN returns the STUN servers only.
func (ss Servers) STUN() Servers {
	var out Servers
	for _, s := range ss {
		if !s.IsTURN() {
			out = append(out, s)
		}
	}
	return out
}

// CheckCredentials returns the first missing-credentials error, or nil.
func (ss Servers) CheckCredentials() error {
	for _, s := range ss {
		if err := s.CheckCredentials(); err != nil {
			return err
		}
	}
	return nil
}

// ParseURL parses one stun:, turn: or turns: URL. source names the input
// in errors (e.g. "argument 1"). Credentials are not set; a missing port
// becomes 3478 (5349 for turns:).
func ParseURL(raw, source string) (Server, error) {
	var s Server
	s.Source = source
	trimmed := strings.TrimSpace(raw)
	scheme, rest, ok := strings.Cut(trimmed, ":")
	if !ok {
		return s, &FieldError{Source: source, Value: raw, Err: errScheme("")}
	}
	switch Scheme(strings.ToLower(scheme)) {
	case SchemeSTUN:
		s.Scheme, s.Port, s.Transport = SchemeSTUN, DefaultPort, TransportUDP
	case SchemeTURN:
		s.Scheme, s.Port, s.Transport = SchemeTURN, DefaultPort, TransportUDP
	case SchemeTURNS:
		s.Scheme, s.Port, s.Transport = SchemeTURNS, DefaultTLSPort, TransportTCP
	default:
		return s, &FieldError{Source: source, Value: raw, Err: errScheme(scheme)}
	}
	if strings.HasPrefix(rest, "//") {
		return s, fieldErr(source, "", raw, "%w: %s: URLs have no \"//\" (write %s:host:port)", ErrHost, scheme, scheme)
	}
	hostport, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery {
		if s.Scheme == SchemeSTUN {
			return s, fieldErr(source, "", raw, "%w: a stun: URL takes no query", ErrTransport)
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return s, fieldErr(source, "", raw, "%w: query %q: %v", ErrTransport, query, err)
		}
		for k := range q {
			if k != "transport" {
				return s, fieldErr(source, "", raw, "%w: unknown query parameter %q: only transport=udp|tcp is allowed", ErrTransport, k)
			}
		}
		switch t := q.Get("transport"); strings.ToLower(t) {
		case "udp":
			s.Transport = TransportUDP // turns: over udp is DTLS
		case "tcp":
			s.Transport = TransportTCP
		default:
			return s, fieldErr(source, "", raw, "%w %q: want udp or tcp", ErrTransport, t)
		}
		s.ExplicitTransport = true
	}
	if hostport == "" {
		return s, fieldErr(source, "", raw, "%w: the URL has no host", ErrHost)
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.Index(hostport, "]")
		if end < 0 {
			return s, fieldErr(source, "", raw, "%w: unclosed [ in an ipv6 address", ErrHost)
		}
		host = hostport[1:end]
		after := hostport[end+1:]
		if after != "" {
			if !strings.HasPrefix(after, ":") {
				return s, fieldErr(source, "", raw, "%w: unexpected %q after the ipv6 address", ErrHost, after)
			}
			port = after[1:]
			if port == "" {
				return s, fieldErr(source, "", raw, "%w: empty port after ':'", ErrPort)
			}
		}
		if net.ParseIP(host) == nil {
			return s, fieldErr(source, "", raw, "%w %q: not an ipv6 address", ErrHost, host)
		}
	} else if i := strings.LastIndex(hostport, ":"); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
		if strings.Contains(host, ":") {
			return s, fieldErr(source, "", raw, "%w: an ipv6 address must be in brackets, e.g. stun:[2001:db8::1]:3478", ErrHost)
		}
		if port == "" {
			return s, fieldErr(source, "", raw, "%w: empty port after ':'", ErrPort)
		}
	}
	if host == "" {
		return s, fieldErr(source, "", raw, "%w: the URL has no host", ErrHost)
	}
	if strings.ContainsAny(host, "/@ \t") {
		return s, fieldErr(source, "", raw, "%w %q: a host has no '/', '@' or spaces", ErrHost, host)
	}
	s.Host = host
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return s, fieldErr(source, "", raw, "%w %q: want a number from 1 to 65535", ErrPort, port)
		}
		s.Port = p
	}
	return s, nil
}

type schemeErr struct{ got string }

func errScheme(got string) error { return &schemeErr{got} }

func (e *schemeErr) Error() string {
	if e.got == "" {
		return ErrScheme.Error() + ": want stun:, turn: or turns: followed by host[:port]"
	}
	if strings.EqualFold(e.got, "stuns") {
		return ErrScheme.Error() + " \"stuns\": not supported by browsers or pion's ice agent; use stun: or turns:"
	}
	return ErrScheme.Error() + " " + strconv.Quote(e.got) + ": want stun, turn or turns"
}
func (e *schemeErr) Unwrap() error { return ErrScheme }
