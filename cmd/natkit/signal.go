package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/internal/sidehttp"
	"github.com/natkit/natkit/signalserver"
)

func init() { register(newSignalCmd) }

type signalFlags struct {
	listen         string
	tlsCert        string
	tlsKey         string
	roomCapacity   int
	turnSecrets    []string
	turnURLs       []string
	tokenTTL       time.Duration
	authSecret     string
	allowedOrigins []string
	redisURL       string
	metrics        string
	pprof          string
	maxConnections int
	maxRooms       int
	maxMessageSize int
	rate           float64
	rateBurst      int
	duration       time.Duration
	eventLoops     int
}

func newSignalCmd(a *app) *cobra.Command {
	var f signalFlags
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "signal [flags]",
		Short: "Run the reference WebRTC signaling server, ICE-token endpoint and web pages",
		Long: `natkit signal runs a WebSocket signaling server (protocol v1: rooms,
presence, targeted relay within a room, queueing for peers that are joining,
resume), an ICE-token endpoint and two web pages.

With no flags it listens on 127.0.0.1:8080 and prints the URLs:
  /                  web pages: candidate gathering and a two-peer call
  /ws                signaling (JSON text frames over WebSocket)
  /v1/ice-servers    ephemeral TURN credentials: {username, password, ttl,
                     uris} and ice_servers; username "expiry:user", password
                     base64(HMAC-SHA1(secret, username)) as coturn's
                     use-auth-secret and natkit relay --secret expect
  /healthz, /metrics

--turn-secret (repeatable, also NATKIT_TURN_SECRET) enables the token
endpoint; the first secret mints, list the older ones on the relays while
rotating. --auth-secret (also NATKIT_SIGNAL_AUTH_SECRET) makes join require
a room token: an HS256 JWT with claims room, exp and optional sub (the peer
id). Without --auth-secret, /ws and /v1/ice-servers answer only Hosts that
are loopback names, the listening address or hosts of --allowed-origin
(421 otherwise): a DNS-rebinding page cannot reach them. --redis shares
rooms between instances. Ctrl-C closes every
connection, prints a summary report and exits 0.`,
		Example: `  natkit signal
  natkit relay --secret "$S" --allow-peer 127.0.0.0/8 &
  natkit signal --turn-secret "$S" --turn-url 'turn:127.0.0.1:3478?transport=udp'
  natkit signal --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --allowed-origin https://app.example.com
  natkit signal --listen 127.0.0.1:8081 --redis redis://127.0.0.1:6379/0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if !cmd.Flags().Changed("turn-secret") {
				if s := os.Getenv("NATKIT_TURN_SECRET"); s != "" {
					f.turnSecrets = []string{s}
				}
			}
			if !cmd.Flags().Changed("auth-secret") {
				f.authSecret = os.Getenv("NATKIT_SIGNAL_AUTH_SECRET")
			}
			cfg, err := f.config()
			if err != nil {
				return err
			}
			cfg.Logger = a.log()
			return runSignal(cmd.Context(), a, &f, cfg, &out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "HOST:PORT to serve HTTP (and WebSocket) on")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (needs --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key for --tls-cert")
	fl.IntVar(&f.roomCapacity, "room-capacity", 2, "most peers in a room")
	fl.StringArrayVar(&f.turnSecrets, "turn-secret", nil, "TURN REST shared secret for the token endpoint; repeatable, the first mints (also NATKIT_TURN_SECRET)")
	fl.StringArrayVar(&f.turnURLs, "turn-url", nil, "ICE server URL handed out with the credentials (turn:, turns:, stun:); repeatable")
	fl.DurationVar(&f.tokenTTL, "token-ttl", time.Hour, "lifetime of minted TURN credentials, at most 24h")
	fl.StringVar(&f.authSecret, "auth-secret", "", "require room tokens (HS256 JWT: room, exp, optional sub) signed with this secret (also NATKIT_SIGNAL_AUTH_SECRET)")
	fl.StringArrayVar(&f.allowedOrigins, "allowed-origin", nil, "browser origin allowed besides the same origin, e.g. https://app.example.com; its host is also an allowed Host; repeatable (default: same origin and localhost)")
	fl.StringVar(&f.redisURL, "redis", "", "share rooms with other instances through Redis, redis://[user:pass@]HOST:PORT[/DB]")
	fl.StringVar(&f.metrics, "metrics", "", "also serve /metrics and /healthz on this HOST:PORT (e.g. an internal interface)")
	fl.StringVar(&f.pprof, "pprof", "", pprofFlagHelp)
	fl.IntVar(&f.maxConnections, "max-connections", 50000, "most WebSocket connections")
	fl.IntVar(&f.maxRooms, "max-rooms", 25000, "most rooms on this instance")
	fl.IntVar(&f.maxMessageSize, "max-message-size", 64<<10, "largest frame in bytes; larger frames get too_large and the connection is closed")
	fl.Float64Var(&f.rate, "rate", 50, "messages per second per connection (token bucket); more get rate_limited")
	fl.IntVar(&f.rateBurst, "rate-burst", 100, "burst of the per-connection token bucket")
	fl.IntVar(&f.eventLoops, "event-loops", 1, "epoll loops serving plain-TCP WebSockets (Linux); 0: none, a goroutine per connection")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (default: run until Ctrl-C)")
	addOutputFlags(cmd, &out)
	return cmd
}

func (f *signalFlags) config() (signalserver.Config, error) {
	var cfg signalserver.Config
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return cfg, usageErrorf("--listen %q: want HOST:PORT", f.listen)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return cfg, usageErrorf("--tls-cert and --tls-key: give both or neither")
	}
	for _, p := range []struct{ flag, path string }{{"--tls-cert", f.tlsCert}, {"--tls-key", f.tlsKey}} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			return cfg, usageErrorf("%s %s: %v", p.flag, p.path, errors.Unwrap(err))
		}
	}
	if f.roomCapacity < 2 {
		return cfg, usageErrorf("--room-capacity %d: a room needs at least 2 peers", f.roomCapacity)
	}
	if f.tokenTTL <= 0 || f.tokenTTL > signalserver.MaxTokenTTL {
		return cfg, usageErrorf("--token-ttl %s: want more than 0 and at most 24h", f.tokenTTL)
	}
	if len(f.turnSecrets) > 0 && len(f.turnURLs) == 0 {
		return cfg, usageErrorf("--turn-secret needs at least one --turn-url to hand out, e.g. --turn-url 'turn:127.0.0.1:3478?transport=udp'")
	}
	if len(f.turnURLs) > 0 && len(f.turnSecrets) == 0 {
		return cfg, usageErrorf("--turn-url needs --turn-secret (or NATKIT_TURN_SECRET) to mint credentials")
	}
	for _, pos := range []struct {
		flag string
		v    int
	}{{"--max-connections", f.maxConnections}, {"--max-rooms", f.maxRooms}, {"--max-message-size", f.maxMessageSize}, {"--rate-burst", f.rateBurst}} {
		if pos.v <= 0 {
			return cfg, usageErrorf("%s %d: want a positive number", pos.flag, pos.v)
		}
	}
	if f.eventLoops < 0 {
		return cfg, usageErrorf("--event-loops %d: want 0 (none) or more", f.eventLoops)
	}
	if f.rate <= 0 {
		return cfg, usageErrorf("--rate %g: want a positive number", f.rate)
	}
	if f.duration < 0 {
		return cfg, usageErrorf("--duration %s: negative", f.duration)
	}
	if f.metrics != "" {
		if _, _, err := net.SplitHostPort(f.metrics); err != nil {
			return cfg, usageErrorf("--metrics %q: want HOST:PORT", f.metrics)
		}
	}
	if f.redisURL != "" {
		u, err := url.Parse(f.redisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return cfg, usageErrorf("--redis %q: want redis://HOST:PORT[/DB] or rediss://…", redact(f.redisURL))
		}
	}
	if f.pprof != "" {
		if err := sidehttp.CheckAddr(f.pprof); err != nil {
			return cfg, usageErrorf("--pprof %q: %v", f.pprof, err)
		}
	}
	loops := f.eventLoops
	if loops == 0 {
		loops = -1 // Config's "none"; its 0 means the default
	}
	cfg = signalserver.Config{
		PprofAddr: f.pprof, MetricsAddr: f.metrics, EventLoops: loops,
		RoomCapacity: f.roomCapacity, TURNSecrets: f.turnSecrets, TURNURLs: f.turnURLs, TokenTTL: f.tokenTTL,
		AuthSecret: f.authSecret, AllowedOrigins: f.allowedOrigins,
		MaxConnections: f.maxConnections, MaxRooms: f.maxRooms, MaxMessageSize: f.maxMessageSize,
		RatePerSecond: f.rate, RateBurst: f.rateBurst,
	}
	return cfg, nil
}

// redact hides a password in a URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func runSignal(ctx context.Context, a *app, f *signalFlags, cfg signalserver.Config, out *outputFlags) error {
	started := time.Now()
	hubName := "memory"
	if f.redisURL != "" {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		hub, err := signalserver.NewRedisHub(hctx, signalserver.RedisHubConfig{URL: f.redisURL, Logger: a.log()})
		cancel()
		if err != nil {
			var ce *signalserver.ConfigError
			if errors.As(err, &ce) {
				return usageErrorf("--redis %s: %v", redact(f.redisURL), ce.Err)
			}
			return fmt.Errorf("--redis %s: %w", redact(f.redisURL), err)
		}
		cfg.Hub = hub
		hubName = "redis " + redact(f.redisURL)
	}
	srv, err := signalserver.NewServer(cfg)
	if err != nil {
		if cfg.Hub != nil {
			_ = cfg.Hub.Close()
		}
		var ce *signalserver.ConfigError
		if errors.As(err, &ce) {
			return usageError(err)
		}
		return err
	}
	defer srv.Close()
	ln, err := srv.Listen(f.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", f.listen, err)
	}
	scheme := "http"
	if f.tlsCert != "" {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	listening := time.Now()
	banner := a.stdout
	if out.format != "text" {
		banner = a.stderr
	}
	printSignalBanner(banner, f, base, hubName)
	if a := srv.PprofAddr(); a != nil {
		fmt.Fprintf(banner, "  pprof:       http://%s/debug/pprof/  (exposes the process's internals)\n", a)
	}

	runCtx := ctx
	if f.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	runErr := srv.Run(runCtx, ln, f.tlsCert, f.tlsKey)
	a.log().Info("signal: stopping")
	tot := srv.Totals()
	closeErr := srv.Close()
	if runErr != nil {
		return fmt.Errorf("serve %s: %w", base, runErr)
	}
	if closeErr != nil {
		a.log().Warn("signal: close", "err", closeErr)
	}
	rep := tot.Report()
	rep.Started, rep.Target = started, base
	rep.AddEvent(listening, "signal", "listening", base+" hub "+hubName)
	rep.AddEvent(time.Now(), "signal", "stopped", fmt.Sprintf("%d connections closed", tot.Connections))
	rep.Finish()
	return a.emit(rep, out)
}

func printSignalBanner(w io.Writer, f *signalFlags, base, hub string) {
	ws := "ws" + strings.TrimPrefix(base, "http")
	fmt.Fprintf(w, "natkit signal listening on %s (hub: %s)\n", base, hub)
	fmt.Fprintf(w, "  web pages:   %s/  (candidate gathering %s/gather.html, call %s/call.html)\n", base, base, base)
	fmt.Fprintf(w, "  signaling:   %s/ws\n", ws)
	if len(f.turnSecrets) > 0 {
		fmt.Fprintf(w, "  ICE servers: %s/v1/ice-servers  (%s, valid %s)\n", base, strings.Join(f.turnURLs, " "), f.tokenTTL)
	} else {
		fmt.Fprintf(w, "  ICE servers: disabled (give --turn-secret and --turn-url)\n")
	}
	fmt.Fprintf(w, "  health:      %s/healthz  metrics: %s/metrics\n", base, base)
	if f.authSecret != "" {
		fmt.Fprintf(w, "  joins need a room token (HS256 JWT signed with --auth-secret)\n")
	}
}
