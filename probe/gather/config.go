package gather

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/stdnet"

	"github.com/natkit/natkit/internal/configerr"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/probe/natbehavior"
)

// Policy is the ICE transport policy.
type Policy string

// Policies, as RTCIceTransportPolicy.
const (
	PolicyAll   Policy = "all"
	PolicyRelay Policy = "relay"
)

// Config configures Run. Zero values take the defaults noted on each
// field; they are filled in one place, withDefaults.
type Config struct {
	// Servers are the ICE servers to test. Required (at least one).
	Servers iceconfig.Servers
	// Net supplies sockets. Default: the real network (stdnet).
	Net transport.Net
	// Policy is the ICE transport policy: with PolicyRelay only relay
	// candidates are gathered. Default PolicyAll.
	Policy Policy
	// Timeout bounds each step: every direct probe and every ICE gather.
	// Default 10s.
	Timeout time.Duration
	// Retransmit is the STUN Binding schedule of the direct probes.
	// Default: RFC 5389 (RTO 500ms, Rc 7, Rm 16) cut at Timeout.
	Retransmit natbehavior.Retransmit
	// TURNRTO is the initial retransmission timeout of the direct TURN
	// Allocate (pion/turn's client doubles it up to 7 requests). Default
	// 200ms (pion's default).
	TURNRTO time.Duration
	// TLSConfig is used for turns: direct probes; ServerName defaults to
	// the URL's host. Default: system roots. (pion's ICE agent always uses
	// the system roots.)
	TLSConfig *tls.Config
	// Dual makes the direct TURN Allocates ask for a dual allocation (RFC
	// 8656 ADDITIONAL-ADDRESS-FAMILY IPv6): an IPv4 and an IPv6 relayed
	// address at once; the verdict reports both, or why the server gave
	// one. Default false.
	Dual bool
	// ICETCP also gathers ICE-TCP host candidates (RFC 6544): passive ones
	// from a TCP listener on Net, active ones as pion's agent makes them,
	// as browsers do. Default false.
	ICETCP bool
	// IncludeLoopback also gathers host candidates on loopback interfaces,
	// which browsers never do. Default false.
	IncludeLoopback bool
	// TCPRelay also checks RFC 6062 TCP relaying on every turn: server
	// reached over TCP or TLS whose Allocate worked: two TCP allocations
	// connect through the relay and exchange a message
	// (ServerResult.TCPRelay). Default false.
	TCPRelay bool
	// Logger receives pion's ICE and TURN logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock for the REST-username expiry check. Default
	// time.Now.
	Now func() time.Time
	// OnServer, if set, is called as each server's own probe and gather
	// end (from the probe's goroutine), e.g. to drive a progress line.
	// Default nil.
	OnServer func(ServerResult)
}

// Defaults.
const (
	DefaultTimeout = 10 * time.Second
	DefaultTURNRTO = 200 * time.Millisecond
)

func configErr(field, format string, args ...any) error {
	return configerr.New(ErrConfig, "", field, "", format, args...)
}

// validate checks a Config with defaults filled in.
func (c Config) validate() error {
	if len(c.Servers) == 0 {
		return configErr("servers", "at least one ice server is required")
	}
	if c.Net == nil {
		return configErr("net", "no network available")
	}
	switch c.Policy {
	case PolicyAll, PolicyRelay:
	default:
		return configErr("policy", "want all or relay, got %s", c.Policy)
	}
	if c.Policy == PolicyRelay && len(c.Servers.TURN()) == 0 {
		return configErr("policy", "relay policy needs at least one turn: or turns: server")
	}
	if c.TCPRelay && !hasStreamTURN(c.Servers) {
		return configErr("tcp-relay", "no turn:?transport=tcp or turns: server to check TCP relaying on (RFC 6062 needs a TCP or TLS connection to the server)")
	}
	if c.Timeout < 0 {
		return configErr("timeout", "must be positive")
	}
	if err := c.Servers.CheckCredentials(); err != nil {
		return configErr("servers", "%s", err.Error())
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Net == nil {
		if n, err := stdnet.NewNet(); err == nil {
			c.Net = n
		}
	}
	if c.Policy == "" {
		c.Policy = PolicyAll
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retransmit.Budget == 0 {
		c.Retransmit.Budget = c.Timeout
	}
	if c.TURNRTO == 0 {
		c.TURNRTO = DefaultTURNRTO
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
