package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/internal/sidehttp"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/relay"
)

func init() { register(newRelayCmd) }

// relayFlags are natkit relay's flags, before they become a relay.Config.
type relayFlags struct {
	listen          []string
	tlsCert, tlsKey string
	publicIP        string
	relayIP         string
	relayIPv6       string
	altIP           string
	altPort         int
	portRange       string
	realm           string
	users           []string
	usersFile       string
	secrets         []string
	allowPeers      []string
	denyPeers       []string
	maxAllocations  int
	userQuota       int
	maxLifetime     time.Duration
	maxRESTTTL      time.Duration
	nonceLifetime   time.Duration
	authTimeout     time.Duration
	bandwidthLimit  int64
	metrics         string
	pprof           string
	sockets         int
	loops           int
	drainTimeout    time.Duration
	duration        time.Duration
	iceUser         string
	iceTTL          time.Duration
	generatedSecret string
	generatedUser   string
	tlsFingerprint  string
	tcpRelay        bool
	tcpConnect      time.Duration
	tcpBind         time.Duration
}

func newRelayCmd(a *app) *cobra.Command {
	var f relayFlags
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "relay [flags]",
		Short: "Run the reference STUN/TURN relay (RFC 5780, TURN REST secrets, safe peer policy)",
		Long: `natkit relay runs a STUN/TURN relay built on pion/turn.

With no flags it listens on 127.0.0.1:3478 (UDP and TCP), realm natkit,
generates a random TURN REST shared secret and one static test user, and
prints ready-to-paste ICE servers JSON. Ctrl-C stops new allocations, waits
up to --drain-timeout for live ones to end, prints a summary report and
exits 0.

Credentials: --user NAME:PASS (repeatable), --users-file (NAME:PASS lines),
--secret S (repeatable, also NATKIT_TURN_SECRET) for coturn-style
use-auth-secret REST credentials: username "expiry:user", password
base64(HMAC-SHA1(secret, username)).

Peer policy: permissions toward loopback, private, CGNAT, link-local,
multicast, broadcast and unspecified addresses (and their IPv6 encodings)
are refused with 403, and so are the relay's own listening and relayed
addresses. --allow-peer opens a CIDR (allow wins), --deny-peer closes more.

Hardening: nonces are bound to the client's 5-tuple and expire after
--nonce-lifetime (a replayed request gets 438), TCP/TLS connections and DTLS
associations that do not authenticate within --auth-timeout are closed, REST usernames expiring
beyond --max-rest-ttl get 401, and messages with a wrong FINGERPRINT are
dropped.

TURN over DTLS (RFC 7350): --listen dtls://IP:PORT serves TURN over DTLS 1.2
with the --tls-cert certificate (required: no self-signed one is generated);
clients use turns:HOST:PORT?transport=udp (RFC 7065).

IPv6 (RFC 6156): listen on udp://[::1]:PORT (or any IPv6 address) to serve IPv6
clients. Allocates get an IPv4 relayed address unless they carry
REQUESTED-ADDRESS-FAMILY IPv6; those use --relay-ipv6 (default: the first
IPv6 listener's IP). A family the relay has no address for gets 440.

TCP relaying (RFC 6062): --tcp-relay serves Allocates asking for a TCP
relayed address over tcp:// and tls:// listeners, with Connect,
ConnectionBind and ConnectionAttempt. It is off by default (such Allocates
get 442 with a reason naming --tcp-relay): it lets clients open TCP
connections from the relay host. The peer policy applies to Connect (403)
and to peers connecting in. TCP allocations take REQUESTED-ADDRESS-FAMILY
like UDP ones (IPv6 on --relay-ipv6); a Connect toward the other family
gets 443.

RFC 5780: --alt-ip adds a second address (e.g. 127.0.0.2 beside 127.0.0.1);
Binding requests then carry OTHER-ADDRESS and CHANGE-REQUEST is honoured.`,
		Example: `  natkit relay
  natkit relay --listen udp://127.0.0.1:3478 --alt-ip 127.0.0.2 --allow-peer 127.0.0.0/8 --user lab:lab
  natkit relay --tcp-relay --allow-peer 127.0.0.0/8 --user lab:lab
  natkit relay --listen udp://0.0.0.0:3478 --listen tls://0.0.0.0:5349 --relay-ip 10.0.0.5 --public-ip 203.0.113.7 --secret "$S" --metrics 127.0.0.1:9090
  natkit relay --listen udp://127.0.0.1:3478 --listen dtls://127.0.0.1:5349 --tls-cert cert.pem --tls-key key.pem --user lab:lab`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			cfg, err := f.config()
			if err != nil {
				return err
			}
			cfg.Logger = a.log()
			return runRelay(cmd.Context(), a, &f, cfg, &out)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.listen, "listen", nil, "serve on udp://IP:PORT, tcp://IP:PORT, tls://IP:PORT or dtls://IP:PORT (TURN over DTLS, RFC 7350); repeatable (default udp and tcp on 127.0.0.1:3478)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate for tls:// and dtls:// listeners (default for tls:// only: a generated self-signed one; dtls:// requires it)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fl.StringVar(&f.publicIP, "public-ip", "", "relayed address advertised to clients, when the host sits behind 1:1 NAT (default: --relay-ip)")
	fl.StringVar(&f.relayIP, "relay-ip", "", "local IP relayed sockets bind to (default: the first listener's IP)")
	fl.StringVar(&f.relayIPv6, "relay-ipv6", "", "IPv6 address for Allocates asking for IPv6 (REQUESTED-ADDRESS-FAMILY) when --relay-ip is IPv4 (default: the first IPv6 --listen IP)")
	fl.StringVar(&f.altIP, "alt-ip", "", "second IP for RFC 5780 NAT behaviour discovery, e.g. 127.0.0.2")
	fl.IntVar(&f.altPort, "alt-port", 0, "second port for RFC 5780 (default: the first UDP port + 1)")
	fl.StringVar(&f.portRange, "port-range", "49152-65535", "relayed ports MIN-MAX")
	fl.StringVar(&f.realm, "realm", relay.DefaultRealm, "long-term credential realm")
	fl.StringArrayVar(&f.users, "user", nil, "static user NAME:PASS; repeatable")
	fl.StringVar(&f.usersFile, "users-file", "", "file of NAME:PASS lines (# comments)")
	fl.StringArrayVar(&f.secrets, "secret", nil, "TURN REST shared secret; repeatable so secrets can rotate (also NATKIT_TURN_SECRET)")
	fl.StringArrayVar(&f.allowPeers, "allow-peer", nil, "allow peers in CIDR even if the default policy refuses them; repeatable")
	fl.StringArrayVar(&f.denyPeers, "deny-peer", nil, "refuse peers in CIDR; repeatable (--allow-peer wins)")
	fl.IntVar(&f.maxAllocations, "max-allocations", 0, "cap on concurrent allocations, 508 beyond (0: none)")
	fl.IntVar(&f.userQuota, "user-quota", 0, "cap on concurrent allocations per user, 486 beyond (0: none)")
	fl.DurationVar(&f.maxLifetime, "max-lifetime", relay.DefaultMaxLifetime, "longest allocation lifetime granted")
	fl.DurationVar(&f.maxRESTTTL, "max-rest-ttl", relay.DefaultMaxRESTTTL, "refuse (401) TURN REST usernames whose expiry lies further ahead than this")
	fl.DurationVar(&f.nonceLifetime, "nonce-lifetime", relay.DefaultNonceLifetime, "how long a nonce stays valid; nonces are bound to the client's 5-tuple, others get 438")
	fl.DurationVar(&f.authTimeout, "auth-timeout", relay.DefaultAuthTimeout, "close TCP/TLS connections and DTLS associations that send no request with valid credentials within this time")
	fl.Int64Var(&f.bandwidthLimit, "bandwidth-limit", 0, "per-allocation relayed bytes per second, both directions (0: none)")
	fl.BoolVar(&f.tcpRelay, "tcp-relay", false, "serve RFC 6062 TCP allocations on tcp:// and tls:// listeners (off: they get 442)")
	fl.DurationVar(&f.tcpConnect, "tcp-connect-timeout", relay.DefaultTCPConnectTimeout, "TCP allocations: how long Connect waits for the peer before 447")
	fl.DurationVar(&f.tcpBind, "tcp-bind-timeout", relay.DefaultTCPBindTimeout, "TCP allocations: how long a peer connection waits for ConnectionBind (RFC 6062: 30s)")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus /metrics and /healthz on ADDR, e.g. 127.0.0.1:9090")
	fl.StringVar(&f.pprof, "pprof", "", pprofFlagHelp)
	fl.IntVar(&f.loops, "loops", 0, "event loops serving UDP sockets on Linux (0: half the CPUs, at least 1)")
	fl.IntVar(&f.sockets, "sockets", 1, "SO_REUSEPORT sockets per UDP listener (reads on several cores)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 5*time.Second, "on Ctrl-C, how long to wait for live allocations to end")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: run until interrupted)")
	fl.StringVar(&f.iceUser, "ice-user", "natkit", "user part of the REST credentials printed at start")
	fl.DurationVar(&f.iceTTL, "ice-ttl", 24*time.Hour, "validity of the REST credentials printed at start")
	addOutputFlags(cmd, &out)
	return cmd
}

// config turns the flags into a relay.Config; every error names its flag.
func (f *relayFlags) config() (relay.Config, error) {
	var cfg relay.Config
	for _, s := range f.listen {
		l, err := relay.ParseListener(s)
		if err != nil {
			return cfg, usageErrorf("--listen %q: %v", s, err)
		}
		cfg.Listen = append(cfg.Listen, l)
	}
	for _, fl := range []struct {
		name, val string
		dst       *net.IP
	}{{"--public-ip", f.publicIP, &cfg.PublicIP}, {"--relay-ip", f.relayIP, &cfg.RelayIP}, {"--relay-ipv6", f.relayIPv6, &cfg.RelayIPv6}, {"--alt-ip", f.altIP, &cfg.AltIP}} {
		if fl.val == "" {
			continue
		}
		ip := net.ParseIP(fl.val)
		if ip == nil {
			return cfg, usageErrorf("%s %q: not an IP address", fl.name, fl.val)
		}
		*fl.dst = ip
	}
	if f.altPort < 0 || f.altPort > 65535 {
		return cfg, usageErrorf("--alt-port %d: want 1 to 65535", f.altPort)
	}
	cfg.AltPort = f.altPort
	lo, hi, ok := strings.Cut(f.portRange, "-")
	pmin, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	pmax, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if !ok || err1 != nil || err2 != nil || pmin == 0 || pmin > pmax {
		return cfg, usageErrorf("--port-range %q: want MIN-MAX with 1 <= MIN <= MAX <= 65535", f.portRange)
	}
	cfg.PortMin, cfg.PortMax = uint16(pmin), uint16(pmax)
	if f.realm == "" {
		return cfg, usageErrorf("--realm: must not be empty")
	}
	cfg.Realm = f.realm
	cfg.Users = map[string]string{}
	for _, u := range f.users {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" || pass == "" {
			return cfg, usageErrorf("--user %q: want NAME:PASS", redactUser(u))
		}
		cfg.Users[name] = pass
	}
	if f.usersFile != "" {
		if err := readUsersFile(f.usersFile, cfg.Users); err != nil {
			return cfg, err
		}
	}
	cfg.Secrets = append(cfg.Secrets, f.secrets...)
	if env := os.Getenv("NATKIT_TURN_SECRET"); env != "" {
		cfg.Secrets = append(cfg.Secrets, env)
	}
	for i, s := range cfg.Secrets {
		if s == "" {
			return cfg, usageErrorf("--secret #%d: empty shared secret", i+1)
		}
	}
	if len(cfg.Users) == 0 && len(cfg.Secrets) == 0 {
		secret, err := randomToken(24)
		if err != nil {
			return cfg, err
		}
		pass, err := randomToken(12)
		if err != nil {
			return cfg, err
		}
		cfg.Secrets = []string{secret}
		cfg.Users["natkit-test"] = pass
		f.generatedSecret, f.generatedUser = secret, "natkit-test:"+pass
	}
	for _, pair := range []struct {
		name string
		in   []string
		out  *[]netip.Prefix
	}{{"--allow-peer", f.allowPeers, &cfg.PeerPolicy.Allow}, {"--deny-peer", f.denyPeers, &cfg.PeerPolicy.Deny}} {
		for _, s := range pair.in {
			p, err := parsePrefix(s)
			if err != nil {
				return cfg, usageErrorf("%s %q: want a CIDR such as 127.0.0.0/8 or an IP", pair.name, s)
			}
			*pair.out = append(*pair.out, p)
		}
	}
	if f.maxAllocations < 0 {
		return cfg, usageErrorf("--max-allocations %d: want 0 (none) or more", f.maxAllocations)
	}
	if f.userQuota < 0 {
		return cfg, usageErrorf("--user-quota %d: want 0 (none) or more", f.userQuota)
	}
	if f.maxLifetime < time.Second {
		return cfg, usageErrorf("--max-lifetime %s: want at least 1s", f.maxLifetime)
	}
	if f.bandwidthLimit < 0 {
		return cfg, usageErrorf("--bandwidth-limit %d: want 0 (none) or more bytes per second", f.bandwidthLimit)
	}
	if f.loops < 0 || f.loops > 64 {
		return cfg, usageErrorf("--loops %d: want 0 (automatic) to 64", f.loops)
	}
	cfg.Loops = f.loops
	if f.sockets < 1 || f.sockets > 64 {
		return cfg, usageErrorf("--sockets %d: want 1 to 64", f.sockets)
	}
	if f.drainTimeout < 0 || f.duration < 0 || f.iceTTL <= 0 {
		return cfg, usageErrorf("--drain-timeout, --duration and --ice-ttl: want positive durations")
	}
	if f.iceTTL > f.maxRESTTTL {
		return cfg, usageErrorf("--ice-ttl %s: longer than --max-rest-ttl %s, the printed credentials would be refused", f.iceTTL, f.maxRESTTTL)
	}
	cfg.MaxRESTTTL, cfg.NonceLifetime, cfg.AuthTimeout = f.maxRESTTTL, f.nonceLifetime, f.authTimeout
	if f.metrics != "" {
		if _, _, err := net.SplitHostPort(f.metrics); err != nil {
			return cfg, usageErrorf("--metrics %q: want HOST:PORT", f.metrics)
		}
		cfg.MetricsAddr = f.metrics
	}
	if f.pprof != "" {
		if err := sidehttp.CheckAddr(f.pprof); err != nil {
			return cfg, usageErrorf("--pprof %q: %v", f.pprof, err)
		}
		cfg.PprofAddr = f.pprof
	}
	cfg.MaxAllocations, cfg.UserQuota = f.maxAllocations, f.userQuota
	if f.tcpConnect < 10*time.Millisecond || f.tcpBind < 10*time.Millisecond {
		return cfg, usageErrorf("--tcp-connect-timeout %s, --tcp-bind-timeout %s: want at least 10ms", f.tcpConnect, f.tcpBind)
	}
	cfg.TCPRelay, cfg.TCPConnectTimeout, cfg.TCPBindTimeout = f.tcpRelay, f.tcpConnect, f.tcpBind
	if f.tcpRelay && len(cfg.Listen) > 0 && !slices.ContainsFunc(cfg.Listen, func(l relay.Listener) bool { return l.Network != relay.NetworkUDP }) {
		return cfg, usageErrorf("--tcp-relay: TCP allocations need a tcp:// or tls:// --listen (RFC 6062 control connections are TCP or TLS)")
	}
	cfg.MaxLifetime, cfg.BandwidthLimit, cfg.SocketsPerListener = f.maxLifetime, f.bandwidthLimit, f.sockets
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return cfg, usageErrorf("--tls-cert and --tls-key: give both or neither")
	}
	hasTLS := false
	var hosts []string
	for _, l := range cfg.Listen {
		if l.Network == relay.NetworkDTLS && f.tlsCert == "" {
			// No generated certificate here: DTLS clients (pion, coturn's
			// uclient) are servers' own tools, which should be given the
			// certificate their relay really serves.
			return cfg, usageErrorf("--listen %s: a dtls:// listener needs --tls-cert and --tls-key (DTLS serves the TLS certificate)", l)
		}
		if l.Network == relay.NetworkTLS {
			hasTLS = true
			h, _, _ := net.SplitHostPort(l.Addr)
			hosts = append(hosts, h)
		}
	}
	switch {
	case f.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return cfg, usageErrorf("--tls-cert %s / --tls-key %s: %v", f.tlsCert, f.tlsKey, err)
		}
		cfg.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	case hasTLS:
		if cfg.PublicIP != nil {
			hosts = append(hosts, cfg.PublicIP.String())
		}
		tc, fp, err := relay.SelfSignedTLS(hosts, 30*24*time.Hour)
		if err != nil {
			return cfg, err
		}
		cfg.TLSConfig, f.tlsFingerprint = tc, fp
	}
	return cfg, nil
}

// configFlag names the flag behind a relay.Config field.
// pprofFlagHelp is the --pprof help of natkit relay and natkit signal.
const pprofFlagHelp = "serve Go's pprof profiles at http://ADDR/debug/pprof/ on their own listener, e.g. 127.0.0.1:6060 (off by default); " +
	"they expose the process's internals (stacks, heap, command line): keep ADDR on loopback or an internal interface"

func configFlag(field string) string {
	switch {
	case strings.HasPrefix(field, "Listen"):
		return "--listen"
	case strings.HasPrefix(field, "Secrets"):
		return "--secret"
	}
	flags := map[string]string{
		"RelayIP": "--relay-ip", "RelayIPv6": "--relay-ipv6", "PublicIP": "--public-ip", "AltIP": "--alt-ip", "AltPort": "--alt-port",
		"PortMin/PortMax": "--port-range", "MaxAllocations": "--max-allocations", "UserQuota": "--user-quota",
		"MaxLifetime": "--max-lifetime", "MaxRESTTTL": "--max-rest-ttl",
		"NonceLifetime": "--nonce-lifetime", "AuthTimeout": "--auth-timeout", "BandwidthLimit": "--bandwidth-limit", "SocketsPerListener": "--sockets", "Loops": "--loops",
		"Users": "--user", "PprofAddr": "--pprof", "MetricsAddr": "--metrics",
	}
	if f, ok := flags[field]; ok {
		return f
	}
	return field
}

func redactUser(s string) string {
	name, _, _ := strings.Cut(s, ":")
	return name + ":…"
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func readUsersFile(path string, users map[string]string) error {
	fh, err := os.Open(path)
	if err != nil {
		return usageErrorf("--users-file %s: %v", path, errors.Unwrap(err))
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		name, pass, ok := strings.Cut(s, ":")
		if !ok || name == "" || pass == "" {
			return usageErrorf("--users-file %s:%d: want NAME:PASS", path, line)
		}
		users[name] = pass
	}
	if err := sc.Err(); err != nil {
		return usageErrorf("--users-file %s: %v", path, err)
	}
	return nil
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func runRelay(ctx context.Context, a *app, f *relayFlags, cfg relay.Config, out *outputFlags) error {
	started := time.Now()
	srv, err := relay.New(cfg)
	if err != nil {
		var ce *relay.ConfigError
		if errors.As(err, &ce) {
			return usageErrorf("%s %q: %v", configFlag(ce.Field), ce.Value, ce.Err)
		}
		return err
	}
	defer srv.Close()
	var addrs []string
	for _, l := range srv.Addrs() {
		addrs = append(addrs, l.String())
	}
	target := strings.Join(addrs, " ")
	listening := time.Now()

	// The start banner goes to stdout with the text report, else to
	// stderr so that stdout stays one JSON/XML document.
	banner := a.stdout
	if out.format != "text" {
		banner = a.stderr
	}
	if err := printBanner(banner, f, srv, cfg); err != nil {
		return err
	}

	runCtx := ctx
	if f.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	<-runCtx.Done()
	a.log().Info("relay: stopping", "allocations", srv.AllocationCount(), "drain_timeout", f.drainTimeout)
	dctx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
	drainErr := srv.Drain(dctx)
	cancel()
	st := srv.Stats()
	if err := srv.Close(); err != nil {
		a.log().Warn("relay: close", "err", err)
	}
	rep := st.Report()
	rep.Started, rep.Target = started, target
	rep.AddEvent(listening, "relay", "listening", target)
	rep.AddEvent(time.Now(), "relay", "stopped", fmt.Sprintf("%d allocations left at stop", st.ActiveAllocations))
	if drainErr != nil {
		rep.AddEvent(time.Now(), "relay", "drain", drainErr.Error())
	}
	rep.Finish()
	return a.emit(rep, out)
}

func printBanner(w io.Writer, f *relayFlags, srv *relay.Server, cfg relay.Config) error {
	var addrs []string
	for _, l := range srv.Addrs() {
		addrs = append(addrs, l.String())
	}
	fmt.Fprintf(w, "natkit relay listening on %s (realm %s)\n", strings.Join(addrs, ", "), cfg.Realm)
	if o := srv.OtherAddress(); o != "" {
		fmt.Fprintf(w, "RFC 5780: alternate address %s\n", o)
	}
	if f.metrics != "" {
		fmt.Fprintf(w, "metrics: http://%s/metrics  health: http://%s/healthz\n", f.metrics, f.metrics)
	}
	if a := srv.PprofAddr(); a != nil {
		fmt.Fprintf(w, "pprof: http://%s/debug/pprof/  (exposes the process's internals)\n", a)
	}
	if f.tlsFingerprint != "" {
		fmt.Fprintf(w, "TLS: self-signed certificate, SHA-256 fingerprint %s\n", f.tlsFingerprint)
	}
	if f.generatedSecret != "" {
		fmt.Fprintf(w, "generated TURN REST shared secret: %s\n", f.generatedSecret)
		fmt.Fprintf(w, "generated static test user:        %s\n", f.generatedUser)
	}
	ice, err := srv.ICEServers(f.iceUser, f.iceTTL)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(map[string]any{"iceServers": ice}, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "ICE servers (valid %s):\n%s\n", f.iceTTL, b)
	if turns := ice.TURN(); len(turns) > 0 {
		try := turns[0]
		for _, s := range turns {
			if s.Scheme == iceconfig.SchemeTURN && s.Transport == iceconfig.TransportUDP {
				try = s
				break
			}
		}
		fmt.Fprintf(w, "try: natkit gather '%s' --user '%s' --credential '%s'\n", iceconfig.Servers{try}.URLs()[0], try.Username, try.Credential)
	}
	return nil
}
