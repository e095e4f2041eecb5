package natbehavior

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/stdnet"

	"github.com/natkit/natkit/internal/configerr"
)

// Config configures Run. Zero values take the defaults noted on each
// field; they are filled in one place, withDefaults.
type Config struct {
	// Net supplies sockets. Default: the real network (stdnet).
	Net transport.Net
	// Server is the RFC 5780 STUN server, host:port (port defaults to
	// 3478). Required.
	Server string
	// AltServer is an independent second STUN server, host:port. It is
	// used only when Server gives no OTHER-ADDRESS, to compare mappings.
	// Default none.
	AltServer string
	// Local is the local IP:port of the mapping-test socket. Default
	// "0.0.0.0:0", which becomes "[::]:0" for an IPv6 server. Its family
	// must match the server's. The filtering, hairpin and lifetime
	// sockets use the same IP and an ephemeral port.
	Local string
	// Hairpin runs the hairpinning test (RFC 5780 §4.5). Default false.
	Hairpin bool
	// Lifetime runs binding-lifetime discovery (§4.6). Default false.
	Lifetime bool
	// LifetimeMax bounds lifetime discovery; lifetimes beyond it are
	// reported as "more than LifetimeMax". Default 60s.
	LifetimeMax time.Duration
	// Timeout bounds the whole run except lifetime discovery, which adds
	// LifetimeMax. Default 10s.
	Timeout time.Duration
	// Retransmit is the per-transaction retransmission schedule. Default:
	// RTO 500ms, Rc 7, Rm 16 (RFC 5389), each transaction cut at 3s
	// (Budget), so that an unanswered filtering test costs 3s.
	Retransmit Retransmit
}

// Defaults.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultLifetimeMax = 60 * time.Second
	DefaultBudget      = 3 * time.Second
	DefaultLocal       = "0.0.0.0:0"
	DefaultPort        = 3478
)

func (c Config) withDefaults() Config {
	if c.Net == nil {
		if n, err := stdnet.NewNet(); err == nil {
			c.Net = n
		}
	}
	if c.Local == "" {
		c.Local = DefaultLocal
	}
	if c.LifetimeMax == 0 {
		c.LifetimeMax = DefaultLifetimeMax
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	c.Retransmit = c.Retransmit.withDefaults()
	if c.Retransmit.Budget == 0 {
		c.Retransmit.Budget = DefaultBudget
	}
	return c
}

func configErr(field, value, format string, args ...any) error {
	return configerr.New(ErrConfig, "", field, value, format, args...)
}

// validate checks a Config with defaults filled in. Field names are the
// flag names of natkit nat.
func (c Config) validate() error {
	if c.Server == "" {
		return configErr("server", "", "is required (host:port of an RFC 5780 STUN server)")
	}
	if c.Net == nil {
		return configErr("net", "", "no network available")
	}
	if _, err := withPort(c.Server); err != nil {
		return configErr("server", c.Server, "%v", err)
	}
	if c.AltServer != "" {
		if _, err := withPort(c.AltServer); err != nil {
			return configErr("alt-server", c.AltServer, "%v", err)
		}
	}
	host, port, err := net.SplitHostPort(c.Local)
	if err != nil {
		return configErr("local", c.Local, "want IP:PORT, e.g. 0.0.0.0:0")
	}
	if net.ParseIP(host) == nil {
		return configErr("local", c.Local, "want an IP address, e.g. 0.0.0.0:0 or [::]:0")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return configErr("local", c.Local, "port: want 0..65535")
	}
	if c.Timeout < 0 {
		return configErr("timeout", c.Timeout.String(), "must be positive")
	}
	if c.LifetimeMax < 0 {
		return configErr("lifetime-max", c.LifetimeMax.String(), "must be positive")
	}
	return nil
}

// withPort returns host:port, adding the default STUN port when missing.
func withPort(hostport string) (string, error) {
	if !strings.HasPrefix(hostport, "[") && strings.Count(hostport, ":") > 1 {
		return "", errString("an IPv6 address must be in brackets, e.g. [2001:db8::1]:3478")
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && ae.Err == "missing port in address" {
			return net.JoinHostPort(hostport, strconv.Itoa(DefaultPort)), nil
		}
		return "", errString("want host:port")
	}
	if host == "" {
		return "", errString("missing host")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", errString("port: want 1..65535")
	}
	return hostport, nil
}

type errString string

func (e errString) Error() string { return string(e) }
