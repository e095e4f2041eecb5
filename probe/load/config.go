package load

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/stdnet"

	"github.com/natkit/natkit/internal/configerr"
)

// Transports between natkit and the relay (Config.Transport).
const (
	TransportUDP  = "udp"
	TransportTCP  = "tcp"
	TransportTLS  = "tls"  // TURN over TLS over TCP (turns:)
	TransportDTLS = "dtls" // TURN over DTLS over UDP (turns:…?transport=udp, RFC 7350)
)

// Families of relayed addresses (Config.RelayFamily).
const (
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
)

// Data-path modes.
const (
	ModeChannel = "channel" // ChannelData messages after ChannelBind
	ModeSend    = "send"    // Send and Data indications
)

// Payload limits: the header carries magic, sender id, sequence number and
// two timestamps.
const (
	MinSize = 32
	MaxSize = 8192
)

// Config describes one load run. Zero values take the defaults noted on
// each field; they are filled in one place, withDefaults.
type Config struct {
	// Net is the network to use. Default: the real network (stdnet).
	Net transport.Net
	// Server is the relay's host:port. Required.
	Server string
	// Transport between natkit and the relay: "udp", "tcp", "tls" (TURN
	// over TLS over TCP, a turns: URL) or "dtls" (TURN over DTLS, a
	// turns:…?transport=udp URL). Over tcp, tls and dtls every allocation
	// has its own connection, and the time to connect it (TCP handshake,
	// plus the TLS handshake; the DTLS handshake) is recorded as
	// MetricConnect. Default "udp".
	Transport string
	// TLSConfig verifies the relay's certificate over "tls" and "dtls". Default: the
	// system roots, with ServerName the host of Server. ServerName is
	// filled in from Server when empty.
	TLSConfig *tls.Config
	// Username and Password are static long-term credentials. Either these
	// or Secret. No default.
	Username, Password string
	// Secret is a TURN REST shared secret (coturn use-auth-secret); each
	// allocation gets credentials minted from it. No default.
	Secret string
	// SecretUser is the user part of minted REST usernames. Default "natkit".
	SecretUser string
	// Allocations is the number of concurrent allocations: the concurrency
	// cap of allocation load, or the number of senders of relayed traffic.
	// Default 10.
	Allocations int
	// Rate is the number of allocations started per second. Default 100.
	Rate float64
	// Duration is how long the load runs (traffic: after all allocations
	// are up). Default 10s.
	Duration time.Duration
	// Ramp raises the load linearly to its full level over this time:
	// the allocation start rate (allocation load) or the number of sending
	// allocations (traffic). Default 0 (full load at once; traffic phases
	// are still spread over one packet interval).
	Ramp time.Duration
	// PPS is packets per second each allocation sends. 0 means allocation
	// load only (allocate, refresh, delete). Default 0.
	PPS float64
	// Size is the payload size in bytes, MinSize..MaxSize. Default 100.
	Size int
	// Mode is ModeChannel or ModeSend. Default ModeChannel.
	Mode string
	// TCPAllocations benchmarks RFC 6062 TCP allocations instead of UDP
	// ones (Transport tcp or tls): allocation load allocates and deletes
	// them; traffic (PPS > 0) pairs them through the relay (Connect,
	// ConnectionBind) and echoes PPS messages of Size bytes on each
	// pair's data connections. Default false.
	TCPAllocations bool
	// Peer is the host:port of a UDP echo peer (natkit peer,
	// turnutils_peer). Traffic needs Peer or Pair. No default.
	Peer string
	// RelayFamily asks for relayed addresses of this family, FamilyIPv4
	// or FamilyIPv6, with REQUESTED-ADDRESS-FAMILY (RFC 6156; UDP and
	// TCP allocations). A relay relays between addresses of one family,
	// so a Peer of the other family is a ConfigError. Default: IPv6 when
	// Peer is IPv6, else none (the server's choice: IPv4, RFC 6156).
	RelayFamily string
	// Pair pairs allocations so that they relay to each other through the
	// server; no external peer is needed. Default false.
	Pair bool
	// RequestTimeout bounds each TURN transaction, retransmissions included
	// (UDP retransmits after 500 ms, doubling). Default 5s.
	RequestTimeout time.Duration
	// Drain is how long to wait for echoes after the last send. Default 2s.
	Drain time.Duration
	// LateAfter is how far behind its schedule a send may be before it
	// counts as late (the tool, not the relay, was slow). Default 10ms.
	LateAfter time.Duration
	// ServerSilence stops a traffic run when nothing at all came back from
	// the server for this long: it died or dropped everything. Default 5s.
	ServerSilence time.Duration
	// Interval is the period of progress callbacks and time series
	// points. Default 1s.
	Interval time.Duration
	// Progress, if set, is called every Interval with a snapshot. Default nil.
	Progress func(Snapshot)
	// Logger receives debug logs. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Net == nil {
		if n, err := stdnet.NewNet(); err == nil {
			c.Net = n
		}
	}
	if c.Transport == "" {
		c.Transport = "udp"
	}
	if c.Transport == TransportTLS || c.Transport == TransportDTLS {
		host, _, _ := net.SplitHostPort(c.Server)
		if c.TLSConfig == nil {
			c.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		} else {
			c.TLSConfig = c.TLSConfig.Clone()
		}
		if c.TLSConfig.ServerName == "" {
			c.TLSConfig.ServerName = host
		}
	}
	if c.TCPAllocations && c.PPS > 0 && c.Peer == "" {
		c.Pair = true // TCP allocation traffic is always paired (tcpalloc.go)
	}
	if c.SecretUser == "" {
		c.SecretUser = "natkit"
	}
	if c.Allocations == 0 {
		c.Allocations = 10
	}
	if c.Rate == 0 {
		c.Rate = 100
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Size == 0 {
		c.Size = 100
	}
	if c.Mode == "" {
		c.Mode = ModeChannel
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 2 * time.Second
	}
	if c.LateAfter == 0 {
		c.LateAfter = 10 * time.Millisecond
	}
	if c.ServerSilence == 0 {
		c.ServerSilence = 5 * time.Second
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func cfgErr(field, value, format string, args ...any) error {
	return configerr.New(ErrConfig, "", field, value, format, args...)
}

// validate checks a Config with defaults filled in. Field names are the
// CLI flag names, so that the command can pass the error on unchanged.
func (c Config) validate() error {
	if err := c.validateTCP(); err != nil {
		return err
	}
	if c.Net == nil {
		return cfgErr("net", "", "no network available")
	}
	if _, _, err := net.SplitHostPort(c.Server); err != nil || c.Server == "" {
		return cfgErr("server", c.Server, "want host:port")
	}
	switch c.Transport {
	case TransportUDP, TransportTCP, TransportTLS, TransportDTLS:
	default:
		return cfgErr("transport", c.Transport, "want udp, tcp, tls or dtls")
	}
	hasStatic := c.Username != "" || c.Password != ""
	switch {
	case hasStatic && c.Secret != "":
		return cfgErr("--secret", "", "give either --user/--credential or --secret, not both")
	case !hasStatic && c.Secret == "":
		return cfgErr("--user", "", "credentials are required: --user and --credential, or --secret")
	case hasStatic && (c.Username == "" || c.Password == ""):
		return cfgErr("--credential", "", "--user and --credential go together")
	}
	if c.Allocations < 1 || c.Allocations > 100000 {
		return cfgErr("--allocations", strconv.Itoa(c.Allocations), "want 1..100000")
	}
	if c.Rate <= 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate) || c.Rate > 1e6 {
		return cfgErr("--rate", fmt.Sprint(c.Rate), "want a positive rate up to 1000000/s")
	}
	if c.Duration <= 0 || c.Duration > 24*time.Hour {
		return cfgErr("--duration", c.Duration.String(), "want more than 0 and at most 24h")
	}
	if c.Ramp < 0 || c.Ramp > c.Duration {
		return cfgErr("--ramp", c.Ramp.String(), "want 0 up to --duration")
	}
	if c.PPS < 0 || math.IsInf(c.PPS, 0) || math.IsNaN(c.PPS) || c.PPS > 100000 {
		return cfgErr("--pps", fmt.Sprint(c.PPS), "want 0 (allocation load only) up to 100000 packets/s per allocation")
	}
	if c.Size < MinSize || c.Size > MaxSize {
		return cfgErr("--size", strconv.Itoa(c.Size), "want %d..%d bytes", MinSize, MaxSize)
	}
	if c.Mode != ModeChannel && c.Mode != ModeSend {
		return cfgErr("--mode", c.Mode, "want channel or send")
	}
	if c.RelayFamily != "" && c.RelayFamily != FamilyIPv4 && c.RelayFamily != FamilyIPv6 {
		return cfgErr("--relay-family", c.RelayFamily, "want ipv4 or ipv6")
	}
	if c.Peer != "" && c.Pair {
		return cfgErr("--peer", c.Peer, "give either --peer or --pair, not both")
	}
	if c.Peer != "" {
		if _, _, err := net.SplitHostPort(c.Peer); err != nil {
			return cfgErr("--peer", c.Peer, "want host:port")
		}
	}
	if c.PPS > 0 && c.Peer == "" && !c.Pair {
		return cfgErr("--pps", fmt.Sprint(c.PPS), "relayed traffic needs --peer HOST:PORT or --pair")
	}
	if c.Pair && c.Allocations < 2 {
		return cfgErr("--allocations", strconv.Itoa(c.Allocations), "--pair needs at least 2 allocations")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"request-timeout", c.RequestTimeout}, {"drain", c.Drain}, {"late-after", c.LateAfter}, {"server-silence", c.ServerSilence}, {"interval", c.Interval}} {
		if d.v <= 0 {
			return cfgErr(d.name, d.v.String(), "want a positive duration")
		}
	}
	return nil
}

// Target is a parsed turn: URL.
type Target struct {
	Host      string
	Port      int
	Transport string // udp, tcp, tls or dtls
}

// Addr returns host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// ParseTURNURL parses turn:HOST[:PORT][?transport=udp|tcp] and
// turns:HOST[:PORT][?transport=tcp|udp] (RFC 7065). The port defaults to
// 3478, 5349 for turns:, whose transport is "tls", or "dtls" with
// transport=udp.
func ParseTURNURL(raw string) (Target, error) {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok {
		return Target{}, cfgErr("url", raw, "want turn:HOST:PORT?transport=udp|tcp")
	}
	t := Target{Port: 3478, Transport: TransportUDP}
	secure := false
	switch strings.ToLower(scheme) {
	case "turn":
	case "turns":
		t.Port, t.Transport, secure = 5349, TransportTLS, true
	default:
		return Target{}, cfgErr("url", raw, "scheme %q: want turn: or turns:", scheme)
	}
	hostport, query, _ := strings.Cut(rest, "?")
	if hostport == "" {
		return Target{}, cfgErr("url", raw, "no host")
	}
	if strings.HasPrefix(hostport, "[") || strings.Count(hostport, ":") == 1 {
		h, p, err := net.SplitHostPort(hostport)
		if err != nil {
			// "[v6]" without port
			if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
				h, p = strings.Trim(hostport, "[]"), "3478"
			} else {
				return Target{}, cfgErr("url", raw, "bad host:port: %v", err)
			}
		}
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return Target{}, cfgErr("url", raw, "port %q: want 1..65535", p)
		}
		t.Host, t.Port = h, port
	} else {
		t.Host = hostport
	}
	if t.Host == "" {
		return Target{}, cfgErr("url", raw, "no host")
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return Target{}, cfgErr("url", raw, "bad query: %v", err)
		}
		for k, v := range q {
			if k != "transport" {
				return Target{}, cfgErr("url", raw, "unknown parameter %q: only transport is allowed", k)
			}
			switch tr := strings.ToLower(v[len(v)-1]); {
			case secure && tr == "tcp":
			case secure && tr == "udp":
				t.Transport = TransportDTLS
			case secure:
				return Target{}, cfgErr("url", raw, "transport=%s: want udp (DTLS) or tcp (TLS)", v[len(v)-1])
			case tr == "udp" || tr == "tcp":
				t.Transport = tr
			default:
				return Target{}, cfgErr("url", raw, "transport=%s: want udp or tcp", v[len(v)-1])
			}
		}
	}
	return t, nil
}
