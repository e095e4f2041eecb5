package gather

import (
	"time"
)

// Cause is the machine-readable reason behind a server verdict.
type Cause string

// Causes.
const (
	CauseSTUNOK      Cause = "stun-ok"
	CauseTURNOK      Cause = "turn-ok"
	CauseNoAnswer    Cause = "no-answer"
	CauseDNS         Cause = "dns-failure"
	CauseUnreachable Cause = "port-unreachable"
	CauseConnRefused Cause = "tcp-connection-refused"
	CauseTLS         Cause = "tls-handshake-failure"
	// CauseNotTLS: a turns: URL whose port does not speak TLS at all.
	CauseNotTLS Cause = "not-tls"
	// CauseDTLS and CauseNotDTLS are the same for turns:…?transport=udp
	// (TURN over DTLS, RFC 7350).
	CauseDTLS    Cause = "dtls-handshake-failure"
	CauseNotDTLS Cause = "not-dtls"
	// CauseTURNDisabled: Binding requests are answered on the Allocate's
	// 5-tuple, Allocates are not.
	CauseTURNDisabled Cause = "turn-disabled"
	CauseExpired      Cause = "rest-username-expired"
	CauseUnauthorized Cause = "401-unauthorized"
	CauseForbidden    Cause = "403-forbidden"
	CauseMismatch     Cause = "437-allocation-mismatch"
	CauseStaleNonce   Cause = "438-stale-nonce"
	CauseQuota        Cause = "486-allocation-quota-reached"
	CauseCapacity     Cause = "508-insufficient-capacity"
	// CauseFamily: 440, the server has no relay address of the family
	// the Allocate asked for (IPv4 when it does not say, RFC 6156).
	CauseFamily        Cause = "440-address-family-not-supported"
	CauseErrorResponse Cause = "error-response"
	CauseBadResponse   Cause = "bad-response"
	CauseNetwork       Cause = "network-error"
	CauseInterrupted   Cause = "interrupted"
)

// OK reports whether the cause is a success.
func (c Cause) OK() bool { return c == CauseSTUNOK || c == CauseTURNOK }

// Candidate is one gathered ICE candidate, with the columns of the
// Trickle ICE sample.
type Candidate struct {
	// At is the time since the gather started.
	At         time.Duration `json:"at"`
	Component  uint16        `json:"component"`
	Type       string        `json:"type"`
	Foundation string        `json:"foundation"`
	Protocol   string        `json:"protocol"`
	// TCPType is active, passive or so for ICE-TCP candidates (RFC
	// 6544); empty for UDP.
	TCPType  string `json:"tcp_type,omitempty"`
	Address  string `json:"address"`
	Port     int    `json:"port"`
	Priority uint32 `json:"priority"`
	// RelatedAddress is "ip:port", empty for host candidates.
	RelatedAddress string `json:"related_address,omitempty"`
	// ServerURL is the ICE server the candidate came from (several,
	// space-separated, when URLs share an address); empty for host
	// candidates.
	ServerURL string `json:"server_url,omitempty"`
	// RelayProtocol is udp, tcp, tls or dtls for relay candidates.
	RelayProtocol string `json:"relay_protocol,omitempty"`
	// Family is the candidate address's family, IPv4 or IPv6.
	Family string `json:"family"`
}

// Gather is one ICE gather: its candidates and how long it took.
type Gather struct {
	// Started is when the gather began, as an offset from Run's start.
	Started    time.Duration  `json:"started"`
	Candidates []Candidate    `json:"candidates"`
	Duration   time.Duration  `json:"duration"`
	Complete   bool           `json:"complete"`
	Count      map[string]int `json:"count"`
	Note       string         `json:"note,omitempty"`
}

// Last returns the time of the last candidate since Run's start, or 0.
func (g *Gather) Last() time.Duration {
	if g == nil || len(g.Candidates) == 0 {
		return 0
	}
	return g.Started + g.Candidates[len(g.Candidates)-1].At
}

// Has reports whether the gather produced a candidate of type typ.
func (g *Gather) Has(typ string) bool { return g != nil && g.Count[typ] > 0 }

// ServerResult is the verdict on one ICE server.
type ServerResult struct {
	URL       string `json:"url"`
	Source    string `json:"source"`
	Scheme    string `json:"scheme"`
	Transport string `json:"transport"`
	// Family is the family (IPv4 or IPv6) of the server address the
	// probe used; empty when it was not resolved.
	Family string `json:"family,omitempty"`
	Cause  Cause  `json:"cause"`
	// Diagnosis is the sentence for people: cause and next step.
	Diagnosis string `json:"diagnosis"`
	// Public is the public (server-reflexive) address the server saw.
	Public string        `json:"public,omitempty"`
	RTT    time.Duration `json:"rtt,omitempty"`
	// Requests is how many requests the direct probe sent.
	Requests int `json:"requests,omitempty"`
	// Relay is the relayed address of a successful Allocate.
	Relay string `json:"relay,omitempty"`
	// RelayIPv6 is what a second Allocate asking for IPv6
	// (REQUESTED-ADDRESS-FAMILY) got, when the server was reached over
	// IPv6 but relayed over IPv4: the IPv6 relayed address, or
	// "440" when the server has none.
	RelayIPv6 string `json:"relay_ipv6,omitempty"`
	// RelayDual is what a dual Allocate (Config.Dual) got beside Relay:
	// the second relayed address, the ADDRESS-ERROR-CODE number (e.g.
	// "440") for the family the server could not give, or "ignored".
	RelayDual   string        `json:"relay_dual,omitempty"`
	Lifetime    time.Duration `json:"lifetime,omitempty"`
	AllocateRTT time.Duration `json:"allocate_rtt,omitempty"`
	// ErrorCode and ErrorReason are the server's STUN error, if any.
	ErrorCode   int    `json:"error_code,omitempty"`
	ErrorReason string `json:"error_reason,omitempty"`
	// TCPRelay is the RFC 6062 check (Config.TCPRelay; nil when not run).
	TCPRelay *TCPRelayResult `json:"tcp_relay,omitempty"`
	// Gather is this server's own ICE gather (nil when skipped).
	Gather *Gather `json:"gather,omitempty"`
	// Duration of the direct probe.
	Duration time.Duration `json:"duration"`
}

// Result is what Run found.
type Result struct {
	Policy  Policy         `json:"policy"`
	Servers []ServerResult `json:"servers"`
	// Combined is the gather through all servers together, as a browser
	// would do with the whole configuration.
	Combined *Gather `json:"combined"`
	// Mappings are the public addresses seen by each STUN-capable server
	// from one socket; MappingVaries is true when they differ, which
	// means a destination-dependent (symmetric) NAT.
	Mappings      map[string]string `json:"mappings,omitempty"`
	MappingVaries bool              `json:"mapping_varies"`
	// Probed are direct Allocates over the transport (UDP or TCP) the
	// input did not list for a turn: URL's host and port.
	Probed []ServerResult `json:"probed,omitempty"`
	// Transports says, per TURN host, whether UDP, TCP, TLS and DTLS work:
	// "ok", "failed", "ok (probed)", "failed (cause, probed)" or "" (not
	// tested).
	Transports []TransportResult `json:"transports,omitempty"`
	Duration   time.Duration     `json:"duration"`
	// Interrupted is true when Run's context ended before it finished.
	Interrupted bool `json:"interrupted,omitempty"`
}

// TransportResult is the transport support of one TURN host.
type TransportResult struct {
	Host string `json:"host"`
	UDP  string `json:"udp,omitempty"`
	TCP  string `json:"tcp,omitempty"`
	TLS  string `json:"tls,omitempty"`
	DTLS string `json:"dtls,omitempty"`
}

// HasCandidate reports whether the combined gather produced a candidate of
// type typ ("host", "srflx", "relay").
func (r *Result) HasCandidate(typ string) bool { return r.Combined.Has(typ) }
