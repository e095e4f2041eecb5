package call

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/transport/v3"
	"github.com/pion/webrtc/v4"
)

// ICESettings are the ICE timers and candidate acceptance waits. pion's
// controlling agent nominates a pair of a type only after that type's wait,
// so the waits dominate the time to connected; the failed timeout dominates
// how long a call that cannot connect takes to give up.
// A peer without settings uses BrowserLikeICE(); the defaults below are
// its values.
type ICESettings struct {
	// DisconnectedTimeout: no traffic for this long → "disconnected".
	// Default 5s; must be positive.
	DisconnectedTimeout time.Duration `json:"disconnected_timeout"`
	// FailedTimeout: disconnected for this long → "failed". Default 25s;
	// must be positive.
	FailedTimeout time.Duration `json:"failed_timeout"`
	// KeepAlive is the interval of ICE keepalives (consent). Default 2s;
	// must be positive.
	KeepAlive time.Duration `json:"keepalive"`
	// HostWait, SrflxWait, PrflxWait, RelayWait are the candidate
	// acceptance waits per candidate type. Default 0, 500ms, 1s, 2s.
	HostWait  time.Duration `json:"host_wait"`
	SrflxWait time.Duration `json:"srflx_wait"`
	PrflxWait time.Duration `json:"prflx_wait"`
	RelayWait time.Duration `json:"relay_wait"`
}

// BrowserLikeICE returns pion's defaults, which behave like a browser:
// disconnected 5s, failed 25s, keepalive 2s, waits host 0, srflx 500ms,
// prflx 1s, relay 2s. Scenarios use them unless they say otherwise.
func BrowserLikeICE() ICESettings {
	return ICESettings{
		DisconnectedTimeout: 5 * time.Second, FailedTimeout: 25 * time.Second, KeepAlive: 2 * time.Second,
		HostWait: 0, SrflxWait: 500 * time.Millisecond, PrflxWait: time.Second, RelayWait: 2 * time.Second,
	}
}

// FastICE returns short timers for the NAT matrix on a virtual network,
// where round trips take microseconds: disconnected 2s, failed 3s,
// keepalive 500ms, waits host 0, srflx 100ms, prflx 1s, relay 1.5s.
//
// The relay and peer-reflexive waits stay well above a few rounds of
// connectivity checks (pion checks every 200ms), so that a pair that can go
// direct does. The prflx wait matters as much as the relay one: when a
// relayed check arrives before the relay candidate was signaled, the
// remote relay candidate is learned as peer-reflexive, and with a short
// prflx wait the controlling agent nominated that relayed pair within
// 200ms (about one matrix in five with prflx 200ms).
func FastICE() ICESettings {
	return ICESettings{
		DisconnectedTimeout: 2 * time.Second, FailedTimeout: 3 * time.Second, KeepAlive: 500 * time.Millisecond,
		HostWait: 0, SrflxWait: 100 * time.Millisecond, PrflxWait: time.Second, RelayWait: 1500 * time.Millisecond,
	}
}

func (s ICESettings) validate() error {
	for name, d := range map[string]time.Duration{
		"disconnected_timeout": s.DisconnectedTimeout, "failed_timeout": s.FailedTimeout, "keepalive": s.KeepAlive,
		"host_wait": s.HostWait, "srflx_wait": s.SrflxWait, "prflx_wait": s.PrflxWait, "relay_wait": s.RelayWait,
	} {
		if d < 0 {
			return configErrorf("ice "+name, "%v must not be negative", d)
		}
	}
	if s.KeepAlive == 0 || s.DisconnectedTimeout == 0 || s.FailedTimeout == 0 {
		return configErrorf("ice", "disconnected_timeout, failed_timeout and keepalive must be positive")
	}
	return nil
}

// String lists the settings for a report.
func (s ICESettings) String() string {
	return fmt.Sprintf("disconnected %v, failed %v, keepalive %v; acceptance waits host %v, srflx %v, prflx %v, relay %v",
		s.DisconnectedTimeout, s.FailedTimeout, s.KeepAlive, s.HostWait, s.SrflxWait, s.PrflxWait, s.RelayWait)
}

// Role is the part a peer plays in the offer/answer exchange.
type Role string

// Roles. The offerer is ICE-controlling, opens the data channel and sends
// the probe messages; the answerer echoes them.
const (
	RoleOffer  Role = "offer"
	RoleAnswer Role = "answer"
)

// PeerConfig configures one peer.
type PeerConfig struct {
	// Name labels the peer in the timeline. Default: "a" for the offerer,
	// "b" for the answerer.
	Name string
	// Role is offer or answer. Required (Call sets it: A offers, B
	// answers).
	Role Role
	// Net is the network to use. Default: the real network (stdnet).
	Net transport.Net
	// ICEServers are the STUN/TURN servers. Default: none.
	ICEServers []webrtc.ICEServer
	// RelayOnly sets the ICE transport policy to "relay". Default false.
	RelayOnly bool
	// ICE are the ICE timers and acceptance waits. Default BrowserLikeICE().
	ICE *ICESettings
	// NoTrickle sends each description only after gathering completed,
	// with every candidate in it, instead of trickling candidates. Default
	// false (trickle). The matrix uses it so that the acceptance waits
	// measure connectivity checks, not gathering on a loaded machine.
	NoTrickle bool
	// CandidatesAfterAnswer makes a trickling offerer hold its candidates
	// until the answer arrived and its ICE agent holds the answer's
	// candidates (pion adds them asynchronously). With an answerer that
	// does not trickle,
	// the controlling offerer then knows every answerer candidate by its
	// type before any check arrives, instead of learning some (even relay
	// ones) as peer-reflexive, which would put them under the prflx
	// acceptance wait. Default false. The matrix uses it.
	CandidatesAfterAnswer bool
	// Audio adds an Opus audio track of synthetic RTP: the offerer sends a
	// 20 ms packet of silence every 20 ms once connected, the answerer
	// counts what arrives (SRTP over the same path). Both peers must agree.
	// Default false (data channel only).
	Audio bool
	// GatherTimeout bounds the wait for complete gathering with NoTrickle.
	// Default 10s.
	GatherTimeout time.Duration
	// MDNS is how the peer treats mDNS (.local) host candidates: off,
	// query (resolve the remote's) or gather (hide its own host addresses
	// behind a .local name, and resolve, as Chromium does). mDNS is
	// multicast on the peer's LAN: it needs a Net with one (the kernel
	// lab; pion's vnet has none). Default off.
	MDNS MDNSMode
	// ICETCP adds ICE-TCP (RFC 6544) host candidates to the UDP ones:
	// passive ones on a TCP listener from Net, and active ones, which dial
	// the remote's passive candidates. pion opens active connections with
	// Go's own dialer rather than Net, so a peer makes active candidates
	// only when Net is the process's own network (nil or stdnet); in a
	// lab namespace or on vnet it is passive only. Default false (UDP
	// only).
	ICETCP bool
	// ICETCPPort is the port of the passive ICE-TCP listener, e.g. 443
	// for a peer that firewalls allowing only HTTPS must reach. Default 0:
	// one the system picks.
	ICETCPPort int
	// TURNRootCAs verifies the certificates of turns: (TURN over TLS)
	// servers instead of the system roots: the engine then makes the TLS
	// connection itself, as pion's ICE agent (v4.1.0) can verify only
	// against the system roots. Default nil: pion's TLS, system roots.
	TURNRootCAs *x509.CertPool
	// Logger receives pion's logs (ICE, TURN, DTLS). Default: discard.
	Logger *slog.Logger
}

func (c PeerConfig) withDefaults() PeerConfig {
	if c.Name == "" {
		c.Name = "a"
		if c.Role == RoleAnswer {
			c.Name = "b"
		}
	}
	ice := BrowserLikeICE()
	if c.ICE != nil {
		ice = *c.ICE
	}
	c.ICE = &ice
	if c.GatherTimeout == 0 {
		c.GatherTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c PeerConfig) validate() error {
	if c.Role != RoleOffer && c.Role != RoleAnswer {
		return configErrorf("role", "%q: want offer or answer", c.Role)
	}
	if c.ICETCPPort < 0 || c.ICETCPPort > 65535 {
		return configErrorf("ice-tcp port", "%d: want 0 to 65535", c.ICETCPPort)
	}
	if c.ICETCPPort != 0 && !c.ICETCP {
		return configErrorf("ice-tcp port", "%d without ICE-TCP on has no effect", c.ICETCPPort)
	}
	if c.GatherTimeout < 0 {
		return configErrorf("gather timeout", "must not be negative")
	}
	if !c.MDNS.valid() {
		return configErrorf("mdns", "%q: want off, query or gather", c.MDNS)
	}
	if c.ICE != nil {
		if err := c.ICE.validate(); err != nil {
			return err
		}
	}
	return nil
}

// ProbeConfig says how many probe messages to send and how.
type ProbeConfig struct {
	// Count is the number of messages. Default 10.
	Count int
	// Size is each message's size in bytes, 16 to 65535. Default 64.
	Size int
	// Interval is the time between messages. Default 20ms.
	Interval time.Duration
	// Grace is how long to wait for the last echoes. Default 2s.
	Grace time.Duration
}

func (p ProbeConfig) withDefaults() ProbeConfig {
	if p.Count == 0 {
		p.Count = 10
	}
	if p.Size == 0 {
		p.Size = 64
	}
	if p.Interval == 0 {
		p.Interval = 20 * time.Millisecond
	}
	if p.Grace == 0 {
		p.Grace = 2 * time.Second
	}
	return p
}

func (p ProbeConfig) validate() error {
	switch {
	case p.Count < 0:
		return configErrorf("messages", "%d must not be negative", p.Count)
	case p.Size != 0 && (p.Size < probeHeader || p.Size > 65535):
		return configErrorf("message size", "%d bytes: want %d to 65535", p.Size, probeHeader)
	case p.Interval < 0 || p.Grace < 0:
		return configErrorf("message interval", "must not be negative")
	}
	return nil
}
