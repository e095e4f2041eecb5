package audit

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/stdnet"

	"github.com/natkit/natkit/probe/iceconfig"
)

// Defaults filled in by Config.withDefaults.
const (
	DefaultMaxAllocations = 20
	DefaultTimeout        = 2 * time.Second
	DefaultIdleWait       = 10 * time.Second
	DefaultIdleConns      = 3
	// DefaultRESTProbeExpiry is how far ahead the REST-expiry check puts
	// its username's expiry: ten years, beyond any sane bound.
	DefaultRESTProbeExpiry = 10 * 365 * 24 * time.Hour
	// DefaultLargeLifetime is the LIFETIME the lifetime check asks for.
	DefaultLargeLifetime = 24 * time.Hour
)

// Limits no Config can raise: the audit is bounded by construction.
const (
	maxAllocationsLimit = 100
	maxIdleWait         = 30 * time.Second
	maxIdleConns        = 10
)

// Config configures Run.
type Config struct {
	// Server is the TURN server under test (turn: or turns:), with the
	// audit's own credentials. Required.
	Server iceconfig.Server
	// Secret is the server's TURN REST shared secret. With it the audit
	// mints its own usernames and checks the expiry bound. Default none
	// (that check is skipped).
	Secret string
	// Net supplies every socket. Default: the real network (stdnet).
	Net transport.Net
	// Sink is a local UDP address (IP:port, port 0 for any) where natkit
	// listens for data-path proof: when the server grants a permission to
	// the sink's range, one datagram is relayed there and only there. It
	// must be an address of this host. Default: 127.0.0.1:0 when the
	// server is on loopback, else none (permissions are tested without
	// data).
	Sink string
	// MaxAllocations bounds the per-user quota probe; every allocation is
	// released. Default 20, at most 100.
	MaxAllocations int
	// Timeout bounds each transaction (retransmissions included over UDP).
	// Default 2s.
	Timeout time.Duration
	// IdleWait bounds the wait for the server to close idle
	// unauthenticated TCP/TLS connections. Default 10s, at most 30s.
	IdleWait time.Duration
	// IdleConns is how many idle connections that check opens. Default 3,
	// at most 10.
	IdleConns int
	// RootCAs verify a turns: server's certificate. Default: the system
	// roots.
	RootCAs *x509.CertPool
	// TCPRelay also audits RFC 6062 TCP relaying on a turn:?transport=tcp
	// or turns: server: a TCP allocation, then Connect toward the loopback
	// encodings of the peer list (a granted one is a finding). Default
	// false.
	TCPRelay bool
	// Logger receives debug logs of each exchange. Default: discard.
	Logger *slog.Logger
	// OnCheck, if set, is called as each check is judged (from the
	// check's goroutine), e.g. to drive a progress line. Default nil.
	OnCheck func(Check)
}

func (c Config) withDefaults() Config {
	if c.Net == nil {
		if n, err := stdnet.NewNet(); err == nil {
			c.Net = n
		}
	}
	if c.MaxAllocations == 0 {
		c.MaxAllocations = DefaultMaxAllocations
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.IdleWait == 0 {
		c.IdleWait = DefaultIdleWait
	}
	if c.IdleConns == 0 {
		c.IdleConns = DefaultIdleConns
	}
	if c.Sink == "" {
		if ip, err := netip.ParseAddr(c.Server.Host); err == nil && ip.IsLoopback() {
			c.Sink = "127.0.0.1:0"
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	s := c.Server
	switch {
	case s.Host == "":
		return configErr("server", "", "is required: a turn: or turns: URL")
	case !s.IsTURN():
		return configErr("server", s.URL(), "%w (a stun: server has no allocations, permissions or relay to audit)", ErrNotTURN)
	case s.Username == "" || s.Credential == "":
		return configErr("server", s.URL(), "needs credentials: --user/--credential, --secret, or credentials in --ice-servers")
	}
	if c.Net == nil {
		return configErr("net", "", "no network: the real network could not be opened")
	}
	if c.MaxAllocations < 1 || c.MaxAllocations > maxAllocationsLimit {
		return configErr("max-allocations", strconv.Itoa(c.MaxAllocations), "want 1 to %d", maxAllocationsLimit)
	}
	if c.Timeout < 0 {
		return configErr("timeout", c.Timeout.String(), "must be positive")
	}
	if c.IdleWait < 0 || c.IdleWait > maxIdleWait {
		return configErr("idle-wait", c.IdleWait.String(), "want up to %s", maxIdleWait)
	}
	if c.IdleConns < 1 || c.IdleConns > maxIdleConns {
		return configErr("idle-conns", strconv.Itoa(c.IdleConns), "want 1 to %d", maxIdleConns)
	}
	if c.Sink != "" {
		if err := checkLocal(c.Net, c.Sink); err != nil {
			return err
		}
	}
	return nil
}

// checkLocal accepts only an IP:port whose IP belongs to this host, so the
// data-path proof can never reach a third party.
func checkLocal(n transport.Net, sink string) error {
	host, _, err := net.SplitHostPort(sink)
	if err != nil {
		return configErr("sink", sink, "want IP:PORT of this host")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return configErr("sink", sink, "%q is not an IP address", host)
	}
	if ip.IsLoopback() {
		return nil
	}
	if ip.IsUnspecified() {
		return configErr("sink", sink, "%w: name one address, not %s", ErrSinkNotLocal, host)
	}
	ifs, err := n.Interfaces()
	if err == nil {
		for _, ifc := range ifs {
			addrs, err := ifc.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if p, ok := a.(*net.IPNet); ok {
					if local, ok := netip.AddrFromSlice(p.IP); ok && local.Unmap() == ip.Unmap() {
						return nil
					}
				}
			}
		}
	}
	return configErr("sink", sink, "%w: %s is not on any interface here", ErrSinkNotLocal, host)
}

// tlsConfig is the client TLS config for a turns: server.
func (c Config) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: c.Server.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12} //nolint:gosec // the TLS check itself probes older versions separately
}
