package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/probe/load"
)

func init() { register(newBenchCmd) }

// benchFlags are natkit bench's flags, before they become a load.Config.
type benchFlags struct {
	user, credential, secret, restUser string
	iceFile, tokenURL                  string
	tlsCA                              string
	tlsInsecure                        bool

	allocations int
	rate        string
	ramp        time.Duration
	duration    time.Duration
	pps         float64
	size        int
	mode        string
	peer        string
	relayFamily string
	pair        bool
	tcpAllocs   bool
	timeout     time.Duration
	drain       time.Duration

	maxLoss          string
	maxP99           time.Duration
	maxAllocFailures string
}

func newBenchCmd(a *app) *cobra.Command {
	var f benchFlags
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "bench turn:HOST:PORT?transport=udp|tcp | turns:HOST:PORT[?transport=udp] (--user U --credential C | --secret S) [flags]",
		Short: "Run a TURN allocation load test or a relayed-traffic benchmark against a relay",
		Long: `natkit bench loads a TURN relay and measures it honestly.

Without --pps it runs allocation load: allocate, refresh and delete cycles
started at --rate per second, at most --allocations in flight, for
--duration. Every request's outcome is counted by error code.

With --pps it holds --allocations allocations (set up at --rate per second)
and each sends --pps packets per second of --size bytes through ChannelData
(or Send indications with --mode send) to a UDP echo peer (--peer, e.g.
natkit peer or turnutils_peer) or to a paired allocation (--pair). It
measures RTT, loss, reordering, duplicates, jitter and throughput.

Over turn:…?transport=tcp, turns: (TLS) and turns:…?transport=udp (DTLS,
RFC 7350) every allocation has its own connection; the time to open it (TCP
handshake, plus the TLS handshake; or the DTLS handshake) is the
turn.connect.time metric. turns: verifies the relay's certificate against
the system roots, or --tls-ca; --tls-insecure skips verification.

--tcp-allocations benchmarks RFC 6062 TCP allocations instead: each
allocation has its own control connection; without --pps they are
allocated and deleted at --rate, with --pps they are paired (Connect and
ConnectionBind through the relay) and each pair echoes --pps messages of
--size bytes a second on its data connections. A relay that does not relay
TCP answers 442, which stops the run with cause tcp-unsupported.

An IPv6 server (turn:[::1]:3478) is reached over IPv6; the family of the
relayed addresses is the relay's choice (IPv4 unless it has none) unless
--relay-family asks (REQUESTED-ADDRESS-FAMILY), and an IPv6 --peer asks for
IPv6. A relay relays between addresses of one family only, so a --peer of
the other family than the relayed addresses exits 2.

Sends follow a schedule: RTT is measured from the actual send and from the
scheduled time, and the report warns when natkit itself could not keep up.
--max-loss, --max-p99 and --max-alloc-failures turn the run into pass/fail
(exit 1). Several workers' --report out.json files merge exactly with
natkit report merge.

Secrets may come from NATKIT_TURN_PASSWORD and NATKIT_TURN_SECRET.`,
		Example: `  natkit bench turn:127.0.0.1:3478 --user u --credential p --allocations 100 --rate 500 --duration 30s
  natkit peer --listen 127.0.0.1:3480 &
  natkit bench turn:127.0.0.1:3478 --user u --credential p --allocations 50 --pps 50 --peer 127.0.0.1:3480 --max-loss 0.1 --max-p99 20ms
  natkit bench turn:relay.example.com:3478?transport=tcp --secret "$S" --pair --allocations 20 --pps 100 --report w1.json
  natkit bench turns:relay.example.com:5349 --secret "$S" --allocations 100 --rate 200 --duration 30s
  natkit bench 'turn:127.0.0.1:3478?transport=tcp' --user u --credential p --tcp-allocations --allocations 20 --pps 100
  natkit bench 'turns:relay.example.com:5349?transport=udp' --secret "$S" --allocations 50 --duration 10s
  natkit peer --listen '[::1]:3480' &
  natkit bench 'turn:[::1]:3478' --user u --credential p --allocations 10 --pps 50 --peer '[::1]:3480'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			cfg, slo, err := f.config(cmd, args)
			if err != nil {
				return err
			}
			cfg.Logger = a.log()
			bar := a.progress(cmd.Context(), "bench", 0)
			if bar != nil {
				cfg.Progress = func(s load.Snapshot) { bar.SetStatus(benchStatus(s)) }
			}
			res, err := load.Run(cmd.Context(), cfg)
			bar.Done()
			if err != nil {
				if errors.Is(err, load.ErrConfig) {
					return usageError(err)
				}
				return err
			}
			rep := res.Report(slo)
			rep.Environment = environment()
			rep.Environment.Settings = f.settings(cfg)
			err = a.emit(rep, &out)
			if errors.Is(res.Stopped, load.ErrPeerFamily) {
				return usageError(res.Stopped) // the flags are wrong, not the relay
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.user, "user", "", "TURN username")
	fl.StringVar(&f.credential, "credential", "", "TURN password (default $NATKIT_TURN_PASSWORD)")
	fl.StringVar(&f.secret, "secret", "", "TURN REST shared secret (coturn static-auth-secret) to mint credentials (default $NATKIT_TURN_SECRET)")
	fl.StringVar(&f.restUser, "rest-user", "", "user part of credentials minted with --secret (default natkit)")
	fl.StringVar(&f.iceFile, "ice-servers", "", "read the TURN server from an ICE servers JSON file (RTCConfiguration, provider token, TURN REST response); - for stdin")
	fl.StringVar(&f.tokenURL, "token-url", "", "GET the TURN server and credentials from this http(s) URL")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "turns: (TLS or DTLS) trust the CA certificates in this PEM file instead of the system roots")
	fl.BoolVar(&f.tlsInsecure, "tls-insecure", false, "turns: (TLS or DTLS) do not verify the relay's certificate (the handshake is still timed)")
	fl.IntVar(&f.allocations, "allocations", 10, "concurrent allocations: in-flight cap of allocation load, or number of senders")
	fl.StringVar(&f.rate, "rate", "100/s", "allocations started per second, e.g. 2000 or 2000/s")
	fl.DurationVar(&f.ramp, "ramp", 0, "rise linearly to the full load over this time (allocation start rate, or the number of sending allocations)")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "how long to load (traffic: after the allocations are up)")
	fl.Float64Var(&f.pps, "pps", 0, "packets per second per allocation; 0 runs allocation load only")
	fl.IntVar(&f.size, "size", 100, fmt.Sprintf("payload bytes per packet (%d..%d)", load.MinSize, load.MaxSize))
	fl.StringVar(&f.mode, "mode", load.ModeChannel, "data path: channel (ChannelData) or send (Send/Data indications)")
	fl.StringVar(&f.peer, "peer", "", "UDP echo peer HOST:PORT (natkit peer, turnutils_peer); an IPv6 peer asks for IPv6 relayed addresses")
	fl.StringVar(&f.relayFamily, "relay-family", "", "ask for relayed addresses of this family, ipv4 or ipv6 (REQUESTED-ADDRESS-FAMILY, RFC 6156; default: the --peer's family when IPv6, else the server's choice)")
	fl.BoolVar(&f.pair, "pair", false, "pair the allocations so they relay to each other; no external peer needed")
	fl.BoolVar(&f.tcpAllocs, "tcp-allocations", false, "benchmark RFC 6062 TCP allocations (turn:?transport=tcp or turns:): allocation load, or with --pps pairs connected through the relay")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "timeout of each TURN request, retransmissions included")
	fl.DurationVar(&f.drain, "drain", 2*time.Second, "how long to wait for echoes after the last send")
	fl.StringVar(&f.maxLoss, "max-loss", "1%", "fail when relayed packet loss is above this percentage")
	fl.DurationVar(&f.maxP99, "max-p99", 0, "fail when the p99 (RTT, or time to relayed address without --pps) is above this; 0 = not checked")
	fl.StringVar(&f.maxAllocFailures, "max-alloc-failures", "1%", "fail when more than this percentage of allocations fail")
	_ = cmd.RegisterFlagCompletionFunc("relay-family", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{load.FamilyIPv4, load.FamilyIPv6}, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("mode", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{load.ModeChannel, load.ModeSend}, cobra.ShellCompDirectiveNoFileComp
	})
	addOutputFlags(cmd, &out)
	return cmd
}

// parsePercent reads "1", "1%" or "0.5 %" as a percentage in 0..100.
func parsePercent(flag, s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, usageErrorf("--%s %q: want a percentage from 0 to 100, e.g. 1 or 0.5%%", flag, s)
	}
	return v, nil
}

// parseRate reads "2000", "2000/s" or "120/m" as events per second.
func parseRate(flag, s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(num, 64)
	per := 1.0
	switch unit {
	case "", "s":
	case "m", "min":
		per = 60
	default:
		err = errors.New("unit")
	}
	if err != nil || v <= 0 || v > 1e6*per {
		return 0, usageErrorf("--%s %q: want a positive rate such as 2000 or 2000/s", flag, s)
	}
	return v / per, nil
}

func (f *benchFlags) config(cmd *cobra.Command, args []string) (load.Config, load.SLO, error) {
	var cfg load.Config
	slo := load.DefaultSLO()
	var err error
	if slo.MaxLossPercent, err = parsePercent("max-loss", f.maxLoss); err != nil {
		return cfg, slo, err
	}
	if slo.MaxAllocFailurePercent, err = parsePercent("max-alloc-failures", f.maxAllocFailures); err != nil {
		return cfg, slo, err
	}
	if f.maxP99 < 0 {
		return cfg, slo, usageErrorf("--max-p99 %s: want a positive duration, or 0 for no check", f.maxP99)
	}
	slo.MaxP99 = f.maxP99
	// Zero means "default" in load.Config; on the command line it is a
	// mistake, so it is refused here rather than silently replaced.
	switch {
	case f.allocations < 1:
		return cfg, slo, usageErrorf("--allocations %d: want at least 1", f.allocations)
	case f.duration <= 0:
		return cfg, slo, usageErrorf("--duration %s: want a positive duration", f.duration)
	case f.size < load.MinSize || f.size > load.MaxSize:
		return cfg, slo, usageErrorf("--size %d: want %d..%d bytes", f.size, load.MinSize, load.MaxSize)
	case f.ramp < 0 || f.ramp > f.duration:
		return cfg, slo, usageErrorf("--ramp %s: want 0 up to --duration", f.ramp)
	}
	rate, err := parseRate("rate", f.rate)
	if err != nil {
		return cfg, slo, err
	}
	if f.credential == "" && !cmd.Flags().Changed("credential") {
		f.credential = os.Getenv("NATKIT_TURN_PASSWORD")
	}
	if f.secret == "" && !cmd.Flags().Changed("secret") && f.user == "" {
		f.secret = os.Getenv("NATKIT_TURN_SECRET")
	}
	servers, err := iceconfig.Load(cmd.Context(), iceconfig.Input{
		URLs: args, Username: f.user, Credential: f.credential, File: f.iceFile, Stdin: cmd.InOrStdin(),
		TokenURL: f.tokenURL, Secret: f.secret, RESTUser: f.restUser,
	})
	if err != nil {
		if errors.Is(err, iceconfig.ErrTokenURL) && !errors.Is(err, iceconfig.ErrConflict) && f.tokenURL != "" {
			return cfg, slo, err // the endpoint failed: could not run
		}
		return cfg, slo, usageError(err)
	}
	var turn []iceconfig.Server
	for _, s := range servers {
		if s.IsTURN() {
			turn = append(turn, s)
		}
	}
	switch {
	case len(turn) == 0:
		return cfg, slo, usageErrorf("no turn: server given: natkit bench needs one turn:HOST:PORT URL (stun: servers cannot be benchmarked)")
	case len(turn) > 1:
		names := make([]string, len(turn))
		for i, s := range turn {
			names[i] = s.URL()
		}
		return cfg, slo, usageErrorf("%d turn servers given (%s): natkit bench loads one server per run; run one worker per server", len(turn), strings.Join(names, ", "))
	}
	srv := turn[0]
	transport := string(srv.Transport)
	switch {
	case srv.DTLS():
		transport = load.TransportDTLS
	case srv.Scheme == iceconfig.SchemeTURNS:
		transport = load.TransportTLS
	}
	tlsCfg, err := f.tlsConfig(transport)
	if err != nil {
		return cfg, slo, err
	}
	cfg = load.Config{
		Server: srv.Address(), Transport: transport, TLSConfig: tlsCfg,
		Username: srv.Username, Password: srv.Credential,
		Allocations: f.allocations, Rate: rate, Ramp: f.ramp, Duration: f.duration,
		PPS: f.pps, Size: f.size, Mode: f.mode, Peer: f.peer, Pair: f.pair, RelayFamily: f.relayFamily,
		RequestTimeout: f.timeout, Drain: f.drain, TCPAllocations: f.tcpAllocs,
	}
	if f.timeout <= 0 {
		return cfg, slo, usageErrorf("--timeout %s: want a positive duration", f.timeout)
	}
	if f.drain <= 0 {
		return cfg, slo, usageErrorf("--drain %s: want a positive duration", f.drain)
	}
	return cfg, slo, nil
}

// tlsConfig builds the turns: client TLS config from --tls-ca and
// --tls-insecure; both are refused without turns:.
func (f *benchFlags) tlsConfig(transport string) (*tls.Config, error) {
	if transport != load.TransportTLS && transport != load.TransportDTLS {
		if f.tlsCA != "" || f.tlsInsecure {
			return nil, usageErrorf("--tls-ca and --tls-insecure apply to turns: URLs only")
		}
		return nil, nil
	}
	if f.tlsCA != "" && f.tlsInsecure {
		return nil, usageErrorf("--tls-ca and --tls-insecure: give one or neither")
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.tlsInsecure} //nolint:gosec // the user asked for it
	if f.tlsCA != "" {
		b, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return nil, usageErrorf("--tls-ca %s: %v", f.tlsCA, errors.Unwrap(err))
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(b) {
			return nil, usageErrorf("--tls-ca %s: no PEM certificate in the file", f.tlsCA)
		}
	}
	return c, nil
}

// settings records the run's shape in the report, without secrets.
func (f *benchFlags) settings(cfg load.Config) map[string]string {
	s := map[string]string{
		"server": cfg.Server, "transport": cfg.Transport, "allocations": strconv.Itoa(cfg.Allocations),
		"rate": strconv.FormatFloat(cfg.Rate, 'g', -1, 64) + "/s", "duration": cfg.Duration.String(),
		"pps": strconv.FormatFloat(cfg.PPS, 'g', -1, 64), "size": strconv.Itoa(cfg.Size), "mode": cfg.Mode,
		"max-loss": f.maxLoss, "max-alloc-failures": f.maxAllocFailures,
	}
	if cfg.Ramp > 0 {
		s["ramp"] = cfg.Ramp.String()
	}
	if cfg.Peer != "" {
		s["peer"] = cfg.Peer
	}
	if cfg.Pair {
		s["pair"] = "true"
	}
	if cfg.RelayFamily != "" {
		s["relay-family"] = cfg.RelayFamily
	}
	if cfg.TCPAllocations {
		s["tcp-allocations"] = "true"
		delete(s, "mode")
	}
	if f.tlsInsecure {
		s["tls"] = "certificate not verified (--tls-insecure)"
	}
	if f.maxP99 > 0 {
		s["max-p99"] = f.maxP99.String()
	}
	return s
}

func benchStatus(s load.Snapshot) string {
	line := fmt.Sprintf("%-10s allocations up %d (ok %d, failed %d)", s.Phase, s.Active, s.Allocated, s.AllocFailed)
	if s.Sent > 0 {
		line += fmt.Sprintf("  sent %.0f/s  received %.0f/s  loss so far %.2f%%  RTT p99 %s", s.SentPPS, s.RecvPPS, s.LossPercent, s.P99.Round(time.Microsecond))
	} else if s.P99 > 0 {
		line += fmt.Sprintf("  time-to-relay p99 %s", s.P99.Round(time.Microsecond))
	}
	return line
}
