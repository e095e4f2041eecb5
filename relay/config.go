package relay

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pion/transport/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natkit/natkit/internal/sidehttp"
)

// Network names of a Listener.
const (
	NetworkUDP = "udp"
	NetworkTCP = "tcp"
	NetworkTLS = "tls"
	// NetworkDTLS is TURN over DTLS over UDP (RFC 7350), served with
	// the TLS certificates.
	NetworkDTLS = "dtls"
)

// Defaults filled in by Config.withDefaults (the one place defaults live).
const (
	DefaultRealm       = "natkit"
	DefaultAddr        = "127.0.0.1:3478"
	DefaultPortMin     = 49152
	DefaultPortMax     = 65535
	DefaultMaxLifetime = time.Hour
	// DefaultMaxRESTTTL is the default Config.MaxRESTTTL: twice the 24 h
	// that natkit signal, natkit relay's banner and most TURN REST
	// services mint, so clock skew and early minting still pass.
	DefaultMaxRESTTTL = 48 * time.Hour
	// DefaultAuthTimeout is the default Config.AuthTimeout: a TCP
	// handshake, a TLS handshake and the 401 round trip take a few round
	// trips, and a link slower than that has no use for TURN over TCP.
	DefaultAuthTimeout = 5 * time.Second
	// DefaultNonceLifetime is the default Config.NonceLifetime, coturn's
	// stale-nonce default.
	DefaultNonceLifetime = 10 * time.Minute
	// DefaultTCPConnectTimeout is the default Config.TCPConnectTimeout.
	DefaultTCPConnectTimeout = 10 * time.Second
	// DefaultTCPBindTimeout is the default Config.TCPBindTimeout, RFC
	// 6062's ConnectionBind window.
	DefaultTCPBindTimeout = 30 * time.Second
	// DefaultSocketBuffer is the default Config.SocketBuffer.
	DefaultSocketBuffer = 4 << 20
	// maxPionLifetime is the longest LIFETIME pion's server honours;
	// requests at or above one hour fall back to its 10 minute default.
	maxPionLifetime = time.Hour - time.Second
	// inboundMTU is the largest frame the relay accepts (pion's default).
	inboundMTU = 1600
)

// Listener is one address the relay serves TURN and STUN on.
type Listener struct {
	// Network is "udp", "tcp", "tls" or "dtls". Required.
	Network string
	// Addr is IP:PORT; port 0 picks a free port (see Server.Addrs). Required.
	Addr string
}

func (l Listener) String() string { return l.Network + "://" + l.Addr }

// ParseListener parses "udp://IP:PORT", "tcp://IP:PORT", "tls://IP:PORT"
// or "dtls://IP:PORT" (an IPv6 IP in brackets).
func ParseListener(s string) (Listener, error) {
	scheme, addr, ok := strings.Cut(s, "://")
	if !ok {
		return Listener{}, fmt.Errorf("want udp://IP:PORT, tcp://IP:PORT, tls://IP:PORT or dtls://IP:PORT")
	}
	l := Listener{Network: strings.ToLower(scheme), Addr: addr}
	if err := l.validate(); err != nil {
		return Listener{}, err
	}
	return l, nil
}

func (l Listener) validate() error {
	switch l.Network {
	case NetworkUDP, NetworkTCP, NetworkTLS, NetworkDTLS:
	default:
		return fmt.Errorf("network %q: want udp, tcp, tls or dtls", l.Network)
	}
	host, port, err := net.SplitHostPort(l.Addr)
	if err != nil {
		return fmt.Errorf("address %q: want IP:PORT", l.Addr)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("address %q: %q is not an IP address", l.Addr, host)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("address %q: port %q is not a number from 0 to 65535", l.Addr, port)
	}
	return nil
}

// Config configures a relay. The zero value is a working relay on
// 127.0.0.1:3478 (UDP and TCP) that accepts nobody until Users or Secrets
// are set.
type Config struct {
	// Net is the network to listen on and relay through. Default: the real
	// network (stdnet). Use a *vnet.Net to run inside a simulated topology.
	Net transport.Net
	// Listen are the addresses to serve. Default: udp and tcp on
	// 127.0.0.1:3478.
	Listen []Listener
	// Realm is the long-term credential realm. Default: "natkit".
	Realm string
	// Users are static long-term credentials, name → password. Default: none.
	Users map[string]string
	// Secrets are TURN REST shared secrets (coturn's use-auth-secret): the
	// username is "expiry:user" and the password
	// base64(HMAC-SHA1(secret, username)). Every secret is accepted, so
	// they can be rotated. Default: none.
	Secrets []string
	// MaxRESTTTL refuses (401, reason expiry_too_far) TURN REST usernames
	// whose expiry lies further ahead than this: a credential valid for
	// years is a leaked static password. Default: 48h.
	MaxRESTTTL time.Duration
	// RelayIP is the local IP that relayed-transport sockets bind to.
	// Default: the IP of the first listener (0.0.0.0 is not allowed then).
	RelayIP net.IP
	// RelayIPv6 is the IPv6 address relayed sockets bind to for Allocates
	// that ask for IPv6 (REQUESTED-ADDRESS-FAMILY, RFC 6156) when RelayIP
	// is IPv4. Default: the first IPv6 listener's IP, if concrete; else
	// none, and such Allocates get 440.
	RelayIPv6 net.IP
	// PublicIP is the relayed address advertised to clients, for a host
	// behind 1:1 NAT. Default: RelayIP.
	PublicIP net.IP
	// AltIP enables RFC 5780 on the first UDP listener: Binding requests
	// are answered with OTHER-ADDRESS and RESPONSE-ORIGIN, and
	// CHANGE-REQUEST is honoured from four sockets (2 IPs × 2 ports).
	// Default: none (CHANGE-REQUEST is answered with 420).
	AltIP net.IP
	// AltPort is the second port for RFC 5780. Default: the first UDP
	// listener's port + 1.
	AltPort int
	// PortMin and PortMax bound the relayed-transport ports, inclusive.
	// Default: 49152–65535.
	PortMin, PortMax uint16
	// PeerPolicy refuses permissions toward internal addresses. Default:
	// the built-in DeniedRanges, nothing allowed beyond.
	PeerPolicy PeerPolicy
	// MaxAllocations caps concurrent allocations; further Allocate
	// requests get 508 Insufficient Capacity. Default: 0, no cap.
	MaxAllocations int
	// UserQuota caps concurrent allocations per user (the user part of a
	// REST username); further Allocate requests get 486 Allocation Quota
	// Reached. Default: 0, no cap.
	UserQuota int
	// MaxLifetime caps the allocation lifetime a client may request.
	// Default: 1h (RFC 8656's recommendation).
	MaxLifetime time.Duration
	// BandwidthLimit caps each allocation's relayed bytes per second, both
	// directions together; excess packets are dropped. Default: 0, none.
	BandwidthLimit int64
	// NonceLifetime is how long a NONCE the relay issued stays valid. Every
	// nonce is bound to the 5-tuple it was sent to; an expired or foreign
	// one gets 438 Stale Nonce with a fresh one (coturn's stale-nonce).
	// Default: 10m.
	NonceLifetime time.Duration
	// AuthTimeout closes a TCP or TLS connection that has not sent a
	// request with valid credentials this long after it was accepted
	// (coturn's max-allocate-timeout), so that idle or half-sent
	// connections cannot hold descriptors and memory. Default: 5s.
	AuthTimeout time.Duration
	// TCPRelay turns on RFC 6062 TCP allocations (Allocate with
	// REQUESTED-TRANSPORT=TCP, Connect, ConnectionBind, ConnectionAttempt)
	// over TCP and TLS listeners. Off, such Allocates get 442 with a reason
	// saying so: a TCP relay lets clients open TCP connections from the
	// relay host, so it is asked for explicitly. Default: false.
	TCPRelay bool
	// TCPConnectTimeout bounds the relay's connection to a peer for
	// Connect; a peer that does not answer in time gets 447. Default: 10s.
	TCPConnectTimeout time.Duration
	// TCPBindTimeout is how long a peer connection waits for the client's
	// ConnectionBind before it is closed (RFC 6062 section 5.2: 30 s).
	// Default: 30s.
	TCPBindTimeout time.Duration
	// TLSConfig serves "tls" listeners, and its Certificates "dtls"
	// listeners. Default: nil (required when there is a tls or dtls
	// listener).
	TLSConfig *tls.Config
	// SocketsPerListener opens this many SO_REUSEPORT sockets per UDP
	// listener so that reads use several cores (real network only; 1 on
	// any other transport.Net). Default: 1.
	SocketsPerListener int
	// Loops is how many event loops serve the UDP sockets on the real
	// network on Linux (IPv4): each waits in epoll_wait on its own thread
	// and relays ChannelData of known channels without waking a goroutine
	// per packet; listening sockets (SocketsPerListener) and relayed
	// sockets are spread over them. Other networks and IPv6 use pion's
	// goroutine per socket. Default: half of GOMAXPROCS, at least 1 (a
	// loop blocked in epoll_wait keeps its P unless another P is idle).
	Loops int
	// SocketBuffer is SO_RCVBUF and SO_SNDBUF for UDP listening sockets,
	// in bytes; relayed sockets get a quarter. The kernel caps it at
	// net.core.rmem_max/wmem_max. Default: 4 MiB.
	SocketBuffer int
	// PprofAddr, if set, serves net/http/pprof's /debug/pprof/ on its own
	// TCP listener at this HOST:PORT (an IP or localhost; port 0 picks
	// one, see Server.PprofAddr). The profiles expose the process's
	// internals: keep it on loopback or an internal interface. A
	// non-loopback address is served (it was named explicitly) with a
	// warning in the log. Default: "", off.
	PprofAddr string
	// MetricsAddr, if set, serves Handler (/metrics with the Go runtime
	// and process collectors, and /healthz) on its own TCP listener at
	// this HOST:PORT (see Server.MetricsAddr). Default: "", off.
	MetricsAddr string
	// Registerer, if set, also registers the relay's Prometheus metrics
	// there. Server.Gatherer always serves them. Default: nil.
	Registerer prometheus.Registerer
	// Logger receives the relay's structured logs; each allocation is
	// logged at debug. Secrets are never logged. Default: discard.
	Logger *slog.Logger
	// OnAuthFailure, if set, is called for every request refused with 401,
	// on the packet path: it must return quickly. Default: nil.
	OnAuthFailure func(AuthFailure)
}

// AuthFailure is one request whose credentials the relay refused.
type AuthFailure struct {
	// User is the USERNAME the client sent.
	User string
	// Client is the client's transport address.
	Client net.Addr
	// Reason is one of the Reason* constants, e.g. ReasonWrongPassword.
	Reason string
	// Transport is "udp", "tcp" (tls too) or "dtls"; Method the STUN method.
	Transport, Method string
}

// withDefaults returns a copy with every default filled in. It does not
// validate.
func (c Config) withDefaults() Config {
	if len(c.Listen) == 0 {
		c.Listen = []Listener{{NetworkUDP, DefaultAddr}, {NetworkTCP, DefaultAddr}}
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.PortMin == 0 && c.PortMax == 0 {
		c.PortMin, c.PortMax = DefaultPortMin, DefaultPortMax
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.NonceLifetime == 0 {
		c.NonceLifetime = DefaultNonceLifetime
	}
	if c.AuthTimeout == 0 {
		c.AuthTimeout = DefaultAuthTimeout
	}
	if c.TCPConnectTimeout == 0 {
		c.TCPConnectTimeout = DefaultTCPConnectTimeout
	}
	if c.TCPBindTimeout == 0 {
		c.TCPBindTimeout = DefaultTCPBindTimeout
	}
	if c.MaxRESTTTL == 0 {
		c.MaxRESTTTL = DefaultMaxRESTTTL
	}
	if c.SocketBuffer == 0 {
		c.SocketBuffer = DefaultSocketBuffer
	}
	if c.SocketsPerListener == 0 {
		c.SocketsPerListener = 1
	}
	if c.Loops == 0 {
		c.Loops = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RelayIP == nil {
		host, _, err := net.SplitHostPort(c.Listen[0].Addr)
		if err == nil {
			c.RelayIP = net.ParseIP(host)
		}
	}
	if c.PublicIP == nil {
		c.PublicIP = c.RelayIP
	}
	if c.RelayIPv6 == nil {
		c.RelayIPv6 = c.defaultRelayIPv6()
	}
	return c
}

// validate checks a Config after withDefaults.
func (c Config) validate() error {
	for i, l := range c.Listen {
		if err := l.validate(); err != nil {
			return configErr(fmt.Sprintf("Listen[%d]", i), l.String(), "%v", err)
		}
		if l.Network == NetworkTLS && c.TLSConfig == nil {
			return configErr(fmt.Sprintf("Listen[%d]", i), l.String(), "a tls listener needs TLSConfig")
		}
		if l.Network == NetworkDTLS && (c.TLSConfig == nil || len(c.TLSConfig.Certificates) == 0) {
			return configErr(fmt.Sprintf("Listen[%d]", i), l.String(), "a dtls listener needs TLSConfig with Certificates (the TLS certificate serves DTLS too)")
		}
	}
	if c.RelayIP == nil || c.RelayIP.IsUnspecified() {
		return configErr("RelayIP", c.RelayIP.String(), "want a concrete IP to bind relayed sockets to (the first listener's IP is unspecified)")
	}
	if err := c.validateRelayIPv6(); err != nil {
		return err
	}
	if c.PublicIP.IsUnspecified() {
		return configErr("PublicIP", c.PublicIP.String(), "want a concrete IP to advertise")
	}
	if c.AltIP != nil {
		if c.AltIP.IsUnspecified() || c.AltIP.Equal(c.firstUDPIP()) {
			return configErr("AltIP", c.AltIP.String(), "want a second concrete IP, different from the first UDP listener's")
		}
		if c.firstUDPIP() == nil {
			return configErr("AltIP", c.AltIP.String(), "RFC 5780 needs a udp listener")
		}
	}
	if c.AltPort < 0 || c.AltPort > 65535 {
		return configErr("AltPort", strconv.Itoa(c.AltPort), "want 0 to 65535")
	}
	if c.PortMin == 0 || c.PortMax == 0 || c.PortMin > c.PortMax {
		return configErr("PortMin/PortMax", fmt.Sprintf("%d-%d", c.PortMin, c.PortMax), "want 1 <= min <= max <= 65535")
	}
	if c.MaxAllocations < 0 {
		return configErr("MaxAllocations", strconv.Itoa(c.MaxAllocations), "want 0 (no cap) or more")
	}
	if c.UserQuota < 0 {
		return configErr("UserQuota", strconv.Itoa(c.UserQuota), "want 0 (no cap) or more")
	}
	if c.MaxLifetime < time.Second {
		return configErr("MaxLifetime", c.MaxLifetime.String(), "want at least 1s")
	}
	if c.NonceLifetime < time.Second {
		return configErr("NonceLifetime", c.NonceLifetime.String(), "want at least 1s")
	}
	if c.AuthTimeout < 10*time.Millisecond {
		return configErr("AuthTimeout", c.AuthTimeout.String(), "want at least 10ms")
	}
	if c.TCPConnectTimeout < 10*time.Millisecond {
		return configErr("TCPConnectTimeout", c.TCPConnectTimeout.String(), "want at least 10ms")
	}
	if c.TCPBindTimeout < 10*time.Millisecond {
		return configErr("TCPBindTimeout", c.TCPBindTimeout.String(), "want at least 10ms")
	}
	if c.MaxRESTTTL < time.Minute {
		return configErr("MaxRESTTTL", c.MaxRESTTTL.String(), "want at least 1m")
	}
	if c.BandwidthLimit < 0 {
		return configErr("BandwidthLimit", strconv.FormatInt(c.BandwidthLimit, 10), "want 0 (none) or more bytes per second")
	}
	if c.SocketBuffer < 0 {
		return configErr("SocketBuffer", strconv.Itoa(c.SocketBuffer), "want 0 (default) or more bytes")
	}
	if c.Loops < 1 || c.Loops > 64 {
		return configErr("Loops", strconv.Itoa(c.Loops), "want 1 to 64")
	}
	if c.SocketsPerListener < 1 || c.SocketsPerListener > 64 {
		return configErr("SocketsPerListener", strconv.Itoa(c.SocketsPerListener), "want 1 to 64")
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return configErr("MetricsAddr", c.MetricsAddr, "want HOST:PORT")
		}
	}
	if c.PprofAddr != "" {
		if err := sidehttp.CheckAddr(c.PprofAddr); err != nil {
			return configErr("PprofAddr", c.PprofAddr, "%v", err)
		}
	}
	for i, s := range c.Secrets {
		if s == "" {
			return configErr(fmt.Sprintf("Secrets[%d]", i), "", "empty shared secret")
		}
	}
	for name := range c.Users {
		if name == "" {
			return configErr("Users", "", "empty user name")
		}
	}
	return nil
}

func (c Config) firstUDPIP() net.IP {
	for _, l := range c.Listen {
		if l.Network == NetworkUDP {
			host, _, _ := net.SplitHostPort(l.Addr)
			return net.ParseIP(host)
		}
	}
	return nil
}
