package lab

import (
	"log/slog"
	"regexp"
	"time"
)

// Fixed addresses, the same as vnet's.
const (
	WANCIDR   = "203.0.113.0/24"
	RelayIP   = "203.0.113.1"
	RelayAlt  = "203.0.113.2"
	RelayPort = 3478
	SideA     = "a"
	SideB     = "b"
	// IPv6 on the WAN (built when a side has IPv6): the relay's two
	// addresses on the bridge, in the documentation range.
	WANCIDR6  = "2001:db8::/64"
	RelayIP6  = "2001:db8::1"
	RelayAlt6 = "2001:db8::2"
	// RelayName is the relay's name in the lab's resolver: an A record
	// only, so an IPv6-only side gets the DNS64 synthesis.
	RelayName = "relay.natkit.lab"
)

// DefaultStateDir holds one file per running topology, naming its owner's
// PID, so that Clean removes only what dead runs left.
const DefaultStateDir = "/run/natkit-lab"

// Config describes a kernel topology. The zero value is two open sides.
type Config struct {
	// A and B are the two sides.
	A, B Side
	// Prefix starts every namespace, link and nft table name: "nk", six
	// hex digits, "-". Default: random, checked unused.
	Prefix string
	// Realm is the TURN realm. Default "natkit".
	Realm string
	// Users maps TURN usernames to passwords. Default {"natkit": "natkit"}.
	Users map[string]string
	// Relay is the relay software in the WAN namespace: RelayNatkit or
	// RelayCoturn (Debian's turnserver; missing, it is a *MissingError).
	// Default RelayNatkit.
	Relay string
	// RelayTLS adds a TURN-over-TLS listener to natkit relay on
	// RelayIP:RelayTLSPort, with a certificate for RelayName and RelayIP
	// made at Build and trusted through Topology.RelayRootCAs. Not with
	// RelayCoturn. Default false.
	RelayTLS bool
	// RelayDTLS adds a TURN-over-DTLS listener (RFC 7350) to natkit relay
	// on RelayIP:RelayDTLSPort over UDP, with the same certificate as
	// RelayTLS (made at Build, trusted through RelayRootCAs and
	// RelayCertPEM). Not with RelayCoturn. Default false.
	RelayDTLS bool
	// NoRelay builds the network without starting natkit's relay in the
	// WAN namespace (to run another there). Default false.
	NoRelay bool
	// StateDir is where the run's owner file goes. Default DefaultStateDir.
	StateDir string
	// Logger receives the relay's logs and pion's (TURN server). Default:
	// discard.
	Logger *slog.Logger
}

// Side is one side's NAT and access link.
type Side struct {
	// Preset is a kernel NAT preset (see Presets). Default "open".
	Preset string
	// Latency is added to every packet towards the host (tc netem).
	// Default 0.
	Latency time.Duration
	// Jitter adds up to this much to Latency, per packet. Default 0.
	Jitter time.Duration
	// LossPercent drops that share of packets on the access link in each
	// direction, 0–100. Default 0.
	LossPercent float64
	// BandwidthBPS limits the downlink in bits per second; 0 is unlimited.
	// Default 0.
	BandwidthBPS int
}

var prefixRE = regexp.MustCompile(`^nk[0-9a-f]{6}-$`)

func (c Config) withDefaults() Config {
	if c.Realm == "" {
		c.Realm = "natkit"
	}
	if c.Users == nil {
		c.Users = map[string]string{"natkit": "natkit"}
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for _, s := range []*Side{&c.A, &c.B} {
		if s.Preset == "" {
			s.Preset = "open"
		}
	}
	return c
}

func (c Config) validate() error {
	if c.Relay != "" && c.Relay != RelayNatkit && c.Relay != RelayCoturn {
		return configErr("relay", c.Relay, "want %s or %s", RelayNatkit, RelayCoturn)
	}
	if c.RelayTLS && c.Relay == RelayCoturn {
		return configErr("relay_tls", "true", "the lab's TLS listener is natkit relay's; coturn runs with --no-tls")
	}
	if c.RelayDTLS && c.Relay == RelayCoturn {
		return configErr("relay_dtls", "true", "the lab's DTLS listener is natkit relay's; coturn runs with --no-dtls")
	}
	if c.Prefix != "" && !prefixRE.MatchString(c.Prefix) {
		return configErr("prefix", c.Prefix, "want nk, six lowercase hex digits and -, e.g. nk0a1b2c-")
	}
	for name, s := range map[string]Side{SideA: c.A, SideB: c.B} {
		if err := s.validate(name); err != nil {
			return err
		}
	}
	return nil
}

func (s Side) validate(name string) error {
	field := func(f string) string { return "side " + name + " " + f }
	if s.Preset != "" {
		if _, err := LookupPreset(s.Preset); err != nil {
			return configErr(field("preset"), s.Preset, "%v", err)
		}
	}
	switch {
	case s.Latency < 0 || s.Jitter < 0:
		return configErr(field("latency/jitter"), "", "must not be negative")
	case s.LossPercent < 0 || s.LossPercent > 100:
		return configErr(field("loss"), "", "%g%%: want 0 to 100", s.LossPercent)
	case s.BandwidthBPS < 0:
		return configErr(field("bandwidth"), "", "must not be negative")
	}
	return nil
}
