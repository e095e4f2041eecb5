package gather

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/stdnet"

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

// Config configures Run. Defaults are filled by setDefaults, in one place.
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
	// IncludeLoopback also gathers host candidates on loopback interfaces,
	// which browsers never do. Default false.
	IncludeLoopback bool
	// LoggerFactory receives pion's logs. Default: discard.
	LoggerFactory logging.LoggerFactory
	// Now is the clock for the REST-username expiry check. Default
	// time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultTimeout = 10 * time.Second
	DefaultTURNRTO = 200 * time.Millisecond
)

func (c *Config) validate() error {
	if len(c.Servers) == 0 {
		return &ConfigError{Field: "servers", Msg: "at least one ice server is required"}
	}
	switch c.Policy {
	case "", PolicyAll, PolicyRelay:
	default:
		return &ConfigError{Field: "policy", Msg: "want all or relay, got " + string(c.Policy)}
	}
	if c.Policy == PolicyRelay && len(c.Servers.TURN()) == 0 {
		return &ConfigError{Field: "policy", Msg: "relay policy needs at least one turn: or turns: server"}
	}
	if c.Timeout < 0 {
		return &ConfigError{Field: "timeout", Msg: "must be positive"}
	}
	for _, s := range c.Servers {
		if ip := net.ParseIP(s.Host); ip != nil && ip.To4() == nil {
			return &ConfigError{Field: "servers", Msg: s.Source + " " + s.URL() + ": IPv6 servers are not supported yet (gathering is IPv4 only)"}
		}
	}
	if err := c.Servers.CheckCredentials(); err != nil {
		return &ConfigError{Field: "servers", Msg: err.Error()}
	}
	return nil
}

func (c *Config) setDefaults() error {
	if c.Net == nil {
		n, err := stdnet.NewNet()
		if err != nil {
			return err
		}
		c.Net = n
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
	if c.LoggerFactory == nil {
		c.LoggerFactory = discardFactory{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

type discardFactory struct{}

func (discardFactory) NewLogger(string) logging.LeveledLogger { return discardLogger{} }

type discardLogger struct{}

func (discardLogger) Trace(string)          {}
func (discardLogger) Tracef(string, ...any) {}
func (discardLogger) Debug(string)          {}
func (discardLogger) Debugf(string, ...any) {}
func (discardLogger) Info(string)           {}
func (discardLogger) Infof(string, ...any)  {}
func (discardLogger) Warn(string)           {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Error(string)          {}
func (discardLogger) Errorf(string, ...any) {}
