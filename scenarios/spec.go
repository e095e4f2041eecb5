package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/vnet"
)

// Spec is one scenario: a topology, ICE and signaling settings, steps on a
// timeline, and what should happen.
type Spec struct {
	// Name identifies the scenario. Required.
	Name string `yaml:"name"`
	// Description says what it shows. Default "".
	Description string `yaml:"description"`
	// Topology is the virtual network. Default: both sides open.
	Topology Topology `yaml:"topology"`
	// Relay is the relay software in the WAN: "natkit" or "coturn" (Debian's
	// turnserver; kernel backend only). Default "natkit".
	Relay string `yaml:"relay"`
	// ICE are the peers' ICE settings. Default: STUN on, TURN off, policy
	// all, browser-like timeouts.
	ICE ICE `yaml:"ice"`
	// Signaling shapes the signaling channel. Default: instant.
	Signaling Signaling `yaml:"signaling"`
	// Media adds media beside the data channel. Default: none.
	Media Media `yaml:"media"`
	// Steps run in order. Default: connect, wait_connected, send 10
	// messages, hangup.
	Steps []Step `yaml:"steps"`
	// Expect is what should happen. Default: nothing is checked.
	Expect Expect `yaml:"expect"`

	file string
	root *yaml.Node
}

// Topology is the scenario's virtual network.
type Topology struct {
	// Seed makes loss and jitter repeatable. Default 1.
	Seed int64 `yaml:"seed"`
	// A and B are the two sides. Default: open.
	A SideSpec `yaml:"a"`
	B SideSpec `yaml:"b"`
	// LAN "shared" also puts the two sides' hosts on one LAN segment (a
	// link between them, multicast through it, beside their own NATs), so
	// host and mDNS candidates connect directly; kernel backend only.
	// Default "separate": each side has a LAN of its own.
	LAN string `yaml:"lan"`
}

// LAN layouts of Topology.LAN.
const (
	LANSeparate = "separate"
	LANShared   = "shared"
)

// sharedLAN reports whether the two hosts share a LAN segment.
func (t Topology) sharedLAN() bool { return t.LAN == LANShared }

// SideSpec is one side's NAT, link and firewall.
type SideSpec struct {
	// NAT is a preset name. Default "open" (unless mapping/filtering).
	NAT string `yaml:"nat"`
	// Mapping and Filtering give a custom NAT: EIM|ADM|APDM, EIF|ADF|APDF.
	Mapping   string `yaml:"mapping"`
	Filtering string `yaml:"filtering"`
	// MappingLifetime is how long an idle mapping lives. Default 30s.
	MappingLifetime Duration `yaml:"mapping_lifetime"`
	// Latency and Jitter are added to packets arriving at the side.
	Latency Duration `yaml:"latency"`
	Jitter  Duration `yaml:"jitter"`
	// Loss is the percentage of packets lost on the side's link. Default 0.
	Loss float64 `yaml:"loss"`
	// Bandwidth limits the side's downlink, e.g. "512kbit", "2mbit".
	// Default unlimited.
	Bandwidth Bandwidth `yaml:"bandwidth"`
	// Firewall "relay-only" drops all UDP except to and from the relay.
	// Default "" (none).
	Firewall string `yaml:"firewall"`
	// Peer is who calls from this side: "natkit" (the in-process call
	// engine), "command" (Command, run inside the side's namespace),
	// "chromium" (headless Chromium inside the side's namespace) or
	// "pion-process" (natkit call, natkit's engine in a process of its own
	// inside the side's namespace); the last three on the kernel backend
	// only. Default "natkit".
	Peer string `yaml:"peer"`
	// Command is the program and its arguments a command peer runs, e.g.
	// ["/usr/bin/myapp", "--call"]. Required with peer: command.
	Command []string `yaml:"command"`
	// MDNS is how the side's peer treats mDNS (.local) host candidates.
	// natkit's engine: "off", "query" (resolve the partner's names) or
	// "gather" (hide its host addresses behind names too, answer, and
	// resolve). Chromium always resolves: "query" shows its host
	// addresses, "gather" hides them (Chromium's own default). Default:
	// query on the kernel backend, off on vnet (it has no multicast).
	MDNS string `yaml:"mdns"`
}

// mdnsModes are SideSpec.MDNS's values, per peer kind.
var (
	mdnsModes         = []string{string(call.MDNSOff), string(call.MDNSQuery), string(call.MDNSGather)}
	chromiumMDNSModes = []string{string(call.MDNSQuery), string(call.MDNSGather)}
)

// mdnsMode is the side's mode for natkit's engine; def when unset.
func (s SideSpec) mdnsMode(def call.MDNSMode) call.MDNSMode {
	if s.MDNS == "" {
		return def
	}
	return call.MDNSMode(s.MDNS)
}

// Peer kinds of SideSpec.Peer.
const (
	PeerNatkit   = "natkit"
	PeerCommand  = "command"
	PeerChromium = "chromium"
	// PeerPionProcess is natkit's engine as a process of its own (natkit
	// call) inside the side's namespace: what pion opens with the net
	// package (active ICE-TCP) is born there, and it has its own trust
	// store (SSL_CERT_FILE, the lab CA) for TURN over TLS and DTLS.
	PeerPionProcess = "pion-process"
)

func (s SideSpec) isCommand() bool { return s.Peer == PeerCommand }

// hasCommand reports whether either side runs a command peer.
func (t Topology) hasCommand() bool { return t.A.isCommand() || t.B.isCommand() }

// ICE is the scenario's ICE settings.
type ICE struct {
	// STUN gives both peers the relay's STUN URL. Default true.
	STUN *bool `yaml:"stun"`
	// TURN gives both peers the relay's TURN URL. Default false.
	TURN bool `yaml:"turn"`
	// TURNTransport is how both peers reach the TURN relay: udp, tcp
	// (turn:…?transport=tcp), tls (turns: on 443, the lab relay's
	// certificate trusted by the call engine) or dtls
	// (turns:…?transport=udp on 5349; peer: pion-process on both sides,
	// which get the lab CA as their trust store). tcp, tls and dtls need
	// the kernel backend. Default "": udp (and also tcp from an IPv6-only
	// side).
	TURNTransport string `yaml:"turn_transport"`
	// ICETCP gives both peers ICE-TCP (RFC 6544) host candidates: passive
	// ones on a TCP port, and active ones, which dial the other's passive
	// ones, from a peer that can (peer: pion-process; natkit's engine in
	// process is passive only in the lab, as pion dials with the net
	// package). Kernel backend only; not with command or chromium peers.
	// Default false.
	ICETCP bool `yaml:"ice_tcp"`
	// ICETCPPort is the passive candidates' port, e.g. 443, which
	// udp-blocked lets out. Default 0: one the system picks.
	ICETCPPort int `yaml:"ice_tcp_port"`
	// Policy is "all" or "relay". Default "all".
	Policy string `yaml:"policy"`
	// Credentials override a side's TURN username/password. Default:
	// the relay's user natkit/natkit.
	Credentials map[string]Credential `yaml:"credentials"`
	// Timeouts is "browser" (pion's defaults) or "fast" (the matrix's),
	// before the overrides below. Default "browser".
	Timeouts            string    `yaml:"timeouts"`
	DisconnectedTimeout *Duration `yaml:"disconnected_timeout"`
	FailedTimeout       *Duration `yaml:"failed_timeout"`
	KeepAlive           *Duration `yaml:"keepalive"`
	HostWait            *Duration `yaml:"host_wait"`
	SrflxWait           *Duration `yaml:"srflx_wait"`
	PrflxWait           *Duration `yaml:"prflx_wait"`
	RelayWait           *Duration `yaml:"relay_wait"`
}

// ICE.TURNTransport values.
const (
	TURNOverUDP = "udp"
	TURNOverTCP = "tcp"
	TURNOverTLS = "tls"
	// TURNOverDTLS is RFC 7350's TURN over DTLS (turns:…?transport=udp).
	TURNOverDTLS = "dtls"
)

// Credential is a TURN username and password.
type Credential struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Signaling shapes the in-process signaling channel.
type Signaling struct {
	// Delay is added to every message. Default 0.
	Delay Duration `yaml:"delay"`
	// Jitter adds a seeded uniform 0..jitter to each message. Default 0.
	Jitter Duration `yaml:"jitter"`
	// Reorder lets jittered messages overtake each other. Default false.
	Reorder bool `yaml:"reorder"`
	// DropCandidates drops candidates of these types: host, srflx, prflx,
	// relay. Default none.
	DropCandidates []string `yaml:"drop_candidates"`
	// CandidatesBeforeOffer holds offers and answers this much longer than
	// candidates: the classic trickle race. Default 0.
	CandidatesBeforeOffer Duration `yaml:"candidates_before_offer"`
}

// Media is what the call carries beside the data channel.
type Media struct {
	// Audio adds an Opus track of synthetic RTP from a to b (a packet every
	// 20 ms once connected). Default false.
	Audio bool `yaml:"audio"`
}

// Step is one action on the timeline. Exactly one action is set.
type Step struct {
	// At waits until this long after the call started before the step.
	At *Duration `yaml:"at"`

	Connect          *struct{}   `yaml:"connect"`
	WaitConnected    *WaitStep   `yaml:"wait_connected"`
	Send             *SendStep   `yaml:"send"`
	Impair           *ImpairStep `yaml:"impair"`
	CutDirect        *struct{}   `yaml:"cut_direct"`
	RestoreDirect    *struct{}   `yaml:"restore_direct"`
	ICERestart       *struct{}   `yaml:"ice_restart"`
	Silence          *SideStep   `yaml:"silence"`
	Rebind           *SideStep   `yaml:"rebind"`
	Wait             *WaitStep   `yaml:"wait"`
	WaitDisconnected *WaitStep   `yaml:"wait_disconnected"`
	WaitRecovered    *WaitStep   `yaml:"wait_recovered"`
	HangUp           *struct{}   `yaml:"hangup"`
}

// WaitStep is a wait with a duration ("for") or a bound ("timeout").
type WaitStep struct {
	// For is how long wait waits. Required for wait, refused elsewhere.
	For Duration `yaml:"for"`
	// Timeout bounds wait_connected, wait_disconnected and wait_recovered.
	// Default Options.WaitTimeout (30s).
	Timeout Duration `yaml:"timeout"`
}

// SendStep sends probe messages from a to b, echoed back.
type SendStep struct {
	// Messages is how many. Required, > 0.
	Messages int `yaml:"messages"`
	// Size is each message's size, 16 to 65535 bytes. Default 64.
	Size int `yaml:"size"`
	// Interval is the time between messages. Default 20ms.
	Interval Duration `yaml:"interval"`
}

// ImpairStep replaces a side's loss and latency for a while.
type ImpairStep struct {
	// Side is "a" or "b". Required.
	Side string `yaml:"side"`
	// Loss replaces the side's loss, 0–100 percent. Default 0.
	Loss float64 `yaml:"loss"`
	// Latency replaces the side's latency (the side needs one in its
	// topology). Default 0.
	Latency Duration `yaml:"latency"`
	// For is how long until the side is restored. Default 0: for the rest
	// of the call.
	For Duration `yaml:"for"`
}

// SideStep acts on one side's NAT: silence (for a while) or rebind.
type SideStep struct {
	// Side is "a" or "b"; it must sit behind a NAT.
	Side string `yaml:"side"`
	// For is how long a silence lasts. Required for silence; rebind
	// takes no duration (it lasts the side's mapping lifetime + 250ms).
	For Duration `yaml:"for"`
}

// Expect is what the scenario should show.
type Expect struct {
	// Connected: the call connects (true) or does not (false).
	Connected *bool `yaml:"connected"`
	// Path: direct, relay or any (at the end of the call).
	Path string `yaml:"path"`
	// Within bounds the time to connected.
	Within Duration `yaml:"within"`
	// Delivered is the minimum percentage of probe messages echoed.
	Delivered *float64 `yaml:"delivered"`
	// RecoversWithin bounds the recovery measured by wait_recovered.
	RecoversWithin Duration `yaml:"recovers_within"`
	// AuthFailure names the side whose TURN credentials the relay must
	// have refused with 401.
	AuthFailure string `yaml:"auth_failure"`
	// AudioDelivered is the minimum percentage of audio packets received
	// (needs media.audio).
	AudioDelivered *float64 `yaml:"audio_delivered"`
	// DetectedWithin bounds the time from the last disruption until a peer
	// connection reports disconnected or failed, measured by
	// wait_disconnected (ICE consent noticing a dead path).
	DetectedWithin Duration `yaml:"detected_within"`
	// Family is the address family of the selected pair: ipv4 or ipv6.
	// Default "": not checked.
	Family string `yaml:"family"`
	// RelayProtocol is how side a's relay candidate in the selected pair
	// reaches the TURN relay: udp, tcp, tls or dtls. Default "": not
	// checked.
	RelayProtocol string `yaml:"relay_protocol"`
	// Protocol is the selected pair's transport: udp, or tcp (ICE-TCP).
	// Default "": not checked.
	Protocol string `yaml:"protocol"`
	// Rebound names the side whose NAT must have sent the call's packets
	// from a new external port (a mapping expired and was recreated) to
	// the same destination. Default "": not checked.
	Rebound string `yaml:"rebound"`
}

// Duration reads "200ms", "1.5s" from YAML.
type Duration time.Duration

// D returns the standard library duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &ParseError{Line: n.Line, Reason: "want a duration like 200ms or 1.5s"}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &ParseError{Line: n.Line, Reason: fmt.Sprintf("duration %q: want a duration like 200ms or 1.5s", n.Value)}
	}
	if v < 0 {
		return &ParseError{Line: n.Line, Reason: fmt.Sprintf("duration %q must not be negative", n.Value)}
	}
	*d = Duration(v)
	return nil
}

// Bandwidth is bits per second, read from "512kbit", "2mbit" or a number.
type Bandwidth int

var bwRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*(bit|kbit|mbit|gbit)?$`)

// UnmarshalYAML parses a bandwidth.
func (b *Bandwidth) UnmarshalYAML(n *yaml.Node) error {
	m := bwRe.FindStringSubmatch(strings.ToLower(n.Value))
	if n.Kind != yaml.ScalarNode || m == nil {
		return &ParseError{Line: n.Line, Reason: fmt.Sprintf("bandwidth %q: want e.g. 512kbit or 2mbit", n.Value)}
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	switch m[2] {
	case "kbit":
		v *= 1e3
	case "mbit":
		v *= 1e6
	case "gbit":
		v *= 1e9
	}
	if v < 8000 {
		return &ParseError{Line: n.Line, Reason: fmt.Sprintf("bandwidth %q: below 8kbit no call can work", n.Value)}
	}
	*b = Bandwidth(v)
	return nil
}

var lineRe = regexp.MustCompile(`line (\d+): (.*)`)

// unknownFieldRe matches the YAML decoder's message for an unknown key.
var unknownFieldRe = regexp.MustCompile(`^field (\S+) not found in type scenarios\.(\w+)$`)

// keysOf are the YAML keys of each type a scenario file holds, for
// "unknown key" errors in the file's terms rather than Go's.
var keysOf = map[string]reflect.Type{
	"Spec": reflect.TypeOf(Spec{}), "Topology": reflect.TypeOf(Topology{}), "SideSpec": reflect.TypeOf(SideSpec{}),
	"ICE": reflect.TypeOf(ICE{}), "Credential": reflect.TypeOf(Credential{}), "Signaling": reflect.TypeOf(Signaling{}),
	"Media": reflect.TypeOf(Media{}), "Step": reflect.TypeOf(Step{}), "WaitStep": reflect.TypeOf(WaitStep{}),
	"SendStep": reflect.TypeOf(SendStep{}), "ImpairStep": reflect.TypeOf(ImpairStep{}), "SideStep": reflect.TypeOf(SideStep{}),
	"Expect": reflect.TypeOf(Expect{}),
}

// unknownField rewords "field x not found in type scenarios.Step" as
// "unknown step 'x' (did you mean y?)" with the valid keys; other messages
// pass through.
func unknownField(msg string) string {
	m := unknownFieldRe.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	t, ok := keysOf[m[2]]
	if !ok {
		return msg
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			if m[2] != "Step" || k != "at" {
				keys = append(keys, k)
			}
		}
	}
	what, list := "key", "valid keys"
	if m[2] == "Step" {
		what, list = "step", "valid steps (each may also have at)"
	}
	out := fmt.Sprintf("unknown %s '%s'", what, m[1])
	if near := nearest(m[1], keys); near != "" {
		out += fmt.Sprintf(" (did you mean %s?)", near)
	}
	return out + "; " + list + ": " + strings.Join(keys, ", ")
}

// nearest returns the key closest to s by edit distance, if it is close
// enough to be a typo.
func nearest(s string, keys []string) string {
	best, bestD := "", -1
	for _, k := range keys {
		if d := editDistance(s, k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if bestD < 0 || bestD > max(1, len(s)/4) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Parse reads a scenario. file names it in errors (file:line: reason).
// Unknown keys, wrong types and impossible values are errors.
func Parse(file string, data []byte) (*Spec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	if len(root.Content) == 0 {
		return nil, &ParseError{File: file, Reason: "empty scenario"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, yamlError(file, err)
	}
	s.file = file
	s.root = root.Content[0]
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func yamlError(file string, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: file, Line: pe.Line, Reason: pe.Reason}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		m := lineRe.FindStringSubmatch(te.Errors[0])
		if m != nil {
			line, _ := strconv.Atoi(m[1])
			reason := unknownField(m[2])
			if len(te.Errors) > 1 {
				reason += fmt.Sprintf(" (and %d more)", len(te.Errors)-1)
			}
			return &ParseError{File: file, Line: line, Reason: reason}
		}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ParseError{File: file, Line: line, Reason: m[2]}
	}
	return &ParseError{File: file, Reason: msg}
}

// lineOf finds the line of the value at path (mapping keys, or sequence
// indexes as numbers), falling back to the deepest node found.
func (s *Spec) lineOf(path ...string) int {
	n := s.root
	line := 0
	if n != nil {
		line = n.Line
	}
	for _, p := range path {
		if n == nil {
			break
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					next = n.Content[i+1]
					line = n.Content[i].Line
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(p); err == nil && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		n = next
	}
	return line
}

func (s *Spec) errAt(reason string, path ...string) error {
	return &ParseError{File: s.file, Line: s.lineOf(path...), Reason: reason}
}

func (s *Spec) validate() error {
	if s.Name == "" {
		return s.errAt("name is required", "name")
	}
	for _, side := range []struct {
		name string
		sp   *SideSpec
	}{{"a", &s.Topology.A}, {"b", &s.Topology.B}} {
		sp := side.sp
		at := func(reason, field string) error { return s.errAt(reason, "topology", side.name, field) }
		if sp.NAT != "" {
			if _, err := vnet.LookupPreset(sp.NAT); err != nil {
				// A kernel-only preset (natkit lab presets) is checked by
				// the kernel backend; vnet refuses it when it builds.
				if _, kerr := lab.LookupPreset(sp.NAT); kerr != nil {
					return at(err.Error()+" (or a kernel preset: natkit lab presets)", "nat")
				}
			}
			if sp.Mapping != "" || sp.Filtering != "" {
				return at("set either nat or mapping/filtering, not both", "mapping")
			}
		}
		if (sp.Mapping == "") != (sp.Filtering == "") {
			return at("a custom nat needs both mapping and filtering", "mapping")
		}
		if sp.Mapping != "" && !contains(vnet.MappingNames, sp.Mapping) {
			return at(fmt.Sprintf("mapping %q: want one of %s", sp.Mapping, strings.Join(vnet.MappingNames, ", ")), "mapping")
		}
		if sp.Filtering != "" && !contains(vnet.FilteringNames, sp.Filtering) {
			return at(fmt.Sprintf("filtering %q: want one of %s", sp.Filtering, strings.Join(vnet.FilteringNames, ", ")), "filtering")
		}
		if sp.Loss < 0 || sp.Loss > 100 {
			return at(fmt.Sprintf("loss %g: want a percentage from 0 to 100", sp.Loss), "loss")
		}
		if sp.Firewall != "" && sp.Firewall != "relay-only" {
			return at(fmt.Sprintf("firewall %q: want relay-only", sp.Firewall), "firewall")
		}
		if (sp.NAT == "" || sp.NAT == "open") && sp.Mapping == "" && sp.MappingLifetime > 0 {
			return at("an open side has no nat mapping to expire", "mapping_lifetime")
		}
		switch sp.Peer {
		case "", PeerNatkit:
			if len(sp.Command) > 0 {
				return at("command needs peer: command", "command")
			}
		case PeerCommand:
			if len(sp.Command) == 0 || sp.Command[0] == "" {
				return at("peer: command needs command: [program, args...]", "peer")
			}
		case PeerChromium, PeerPionProcess:
			if len(sp.Command) > 0 {
				return at("command needs peer: command", "command")
			}
		default:
			return at(fmt.Sprintf("peer %q: want natkit, command, chromium or pion-process", sp.Peer), "peer")
		}
		switch {
		case sp.MDNS == "":
		case sp.isCommand():
			return at("mdns is not available with peer: command (the program sets its own)", "mdns")
		case sp.Peer == PeerPionProcess && sp.MDNS != string(call.MDNSOff):
			return at(fmt.Sprintf("mdns %q is not available with peer: pion-process (natkit call neither hides nor resolves .local names): want off", sp.MDNS), "mdns")
		case sp.isChromium() && !contains(chromiumMDNSModes, sp.MDNS):
			return at(fmt.Sprintf("mdns %q with peer: chromium: want %s (Chromium always resolves .local names; gather hides its host addresses)", sp.MDNS, strings.Join(chromiumMDNSModes, " or ")), "mdns")
		case !contains(mdnsModes, sp.MDNS):
			return at(fmt.Sprintf("mdns %q: want %s", sp.MDNS, strings.Join(mdnsModes, ", ")), "mdns")
		}
	}
	switch s.Topology.LAN {
	case "", LANSeparate, LANShared:
	default:
		return s.errAt(fmt.Sprintf("lan %q: want %s or %s", s.Topology.LAN, LANSeparate, LANShared), "topology", "lan")
	}
	if s.Topology.hasCommand() && s.Topology.hasProcessPeer() {
		return s.errAt(fmt.Sprintf("peer: command and peer: %s cannot share a scenario: give the other side peer: natkit", s.Topology.processKind()), "topology")
	}
	if s.Topology.hasCommand() {
		if err := s.validateCommand(); err != nil {
			return err
		}
	}
	if s.Topology.hasProcessPeer() {
		if err := s.validateProcessPeers(); err != nil {
			return err
		}
	}
	switch s.Relay {
	case "", lab.RelayNatkit, lab.RelayCoturn:
	default:
		return s.errAt(fmt.Sprintf("relay %q: want %s or %s", s.Relay, lab.RelayNatkit, lab.RelayCoturn), "relay")
	}
	if s.Relay == lab.RelayCoturn && s.Expect.AuthFailure != "" {
		// coturn's 401s are in its log, not reported to the runner.
		return s.errAt("auth_failure is not available with relay: coturn (only natkit relay reports its 401s)", "expect", "auth_failure")
	}
	switch s.ICE.Policy {
	case "", "all", "relay":
	default:
		return s.errAt(fmt.Sprintf("policy %q: want all or relay", s.ICE.Policy), "ice", "policy")
	}
	switch s.ICE.Timeouts {
	case "", "browser", "fast":
	default:
		return s.errAt(fmt.Sprintf("timeouts %q: want browser or fast", s.ICE.Timeouts), "ice", "timeouts")
	}
	for side := range s.ICE.Credentials {
		if side != "a" && side != "b" {
			return s.errAt(fmt.Sprintf("credentials for side %q: want a or b", side), "ice", "credentials", side)
		}
	}
	if !s.ICE.TURN && len(s.ICE.Credentials) > 0 {
		return s.errAt("credentials without turn: true have no effect", "ice", "credentials")
	}
	switch s.ICE.TURNTransport {
	case "", TURNOverUDP, TURNOverTCP, TURNOverTLS, TURNOverDTLS:
	default:
		return s.errAt(fmt.Sprintf("turn_transport %q: want udp, tcp, tls or dtls", s.ICE.TURNTransport), "ice", "turn_transport")
	}
	if s.ICE.TURNTransport != "" && !s.ICE.TURN {
		return s.errAt("turn_transport without turn: true has no effect", "ice", "turn_transport")
	}
	if s.ICE.TURNTransport == TURNOverTLS && s.Relay == lab.RelayCoturn {
		return s.errAt("turn_transport tls is not available with relay: coturn (the lab runs it with --no-tls)", "ice", "turn_transport")
	}
	if s.ICE.TURNTransport == TURNOverDTLS && s.Relay == lab.RelayCoturn {
		return s.errAt("turn_transport dtls is not available with relay: coturn (the lab runs it with --no-dtls)", "ice", "turn_transport")
	}
	if s.ICE.TURNTransport == TURNOverTLS && (s.Topology.hasCommand() || s.Topology.hasChromium()) {
		return s.errAt("turn_transport tls needs natkit's call engine on both sides, in process or pion-process (only it trusts the lab relay's certificate)", "ice", "turn_transport")
	}
	if s.ICE.TURNTransport == TURNOverDTLS && (s.Topology.A.Peer != PeerPionProcess || s.Topology.B.Peer != PeerPionProcess) {
		return s.errAt("turn_transport dtls needs peer: pion-process on both sides: pion verifies TURN over DTLS against the system roots only, and only a process of its own can have the lab CA as its system roots", "ice", "turn_transport")
	}
	if s.ICE.ICETCPPort < 0 || s.ICE.ICETCPPort > 65535 {
		return s.errAt(fmt.Sprintf("ice_tcp_port %d: want 1 to 65535", s.ICE.ICETCPPort), "ice", "ice_tcp_port")
	}
	if s.ICE.ICETCPPort != 0 && !s.ICE.ICETCP {
		return s.errAt("ice_tcp_port without ice_tcp: true has no effect", "ice", "ice_tcp_port")
	}
	if s.ICE.ICETCP && (s.Topology.hasCommand() || s.Topology.hasChromium()) {
		return s.errAt("ice_tcp needs natkit's engine on both sides, in process or pion-process (a command or chromium peer gathers as it does on its own)", "ice", "ice_tcp")
	}
	if s.ICE.Policy == "relay" && !s.ICE.TURN {
		return s.errAt("policy relay needs turn: true, or no candidate can be gathered", "ice", "policy")
	}
	if _, err := s.iceSettings(); err != nil {
		return s.errAt(err.Error(), "ice")
	}
	for _, t := range s.Signaling.DropCandidates {
		if !contains([]string{"host", "srflx", "prflx", "relay"}, t) {
			return s.errAt(fmt.Sprintf("drop_candidates %q: want host, srflx, prflx or relay", t), "signaling", "drop_candidates")
		}
	}
	if err := s.validateSteps(); err != nil {
		return err
	}
	e := s.Expect
	if e.Family != "" && e.Family != "ipv4" && e.Family != "ipv6" {
		return s.errAt(fmt.Sprintf("family %q: want ipv4 or ipv6", e.Family), "expect", "family")
	}
	switch e.RelayProtocol {
	case "", TURNOverUDP, TURNOverTCP, TURNOverTLS, "dtls":
	default:
		return s.errAt(fmt.Sprintf("relay_protocol %q: want udp, tcp, tls or dtls", e.RelayProtocol), "expect", "relay_protocol")
	}
	if e.RelayProtocol != "" && (e.Path == "direct" || (e.Connected != nil && !*e.Connected)) {
		return s.errAt("relay_protocol needs a relayed call (path relay or any, connected)", "expect", "relay_protocol")
	}
	switch e.Protocol {
	case "", "udp", "tcp":
	default:
		return s.errAt(fmt.Sprintf("protocol %q: want udp or tcp", e.Protocol), "expect", "protocol")
	}
	if e.Protocol != "" && e.Connected != nil && !*e.Connected {
		return s.errAt("protocol needs a connected call", "expect", "protocol")
	}
	switch e.Path {
	case "", "any", "direct", "relay":
	default:
		return s.errAt(fmt.Sprintf("path %q: want direct, relay or any", e.Path), "expect", "path")
	}
	if e.Connected != nil && !*e.Connected && (e.Path == "direct" || e.Path == "relay" || e.Within > 0 || e.RecoversWithin > 0 || e.DetectedWithin > 0) {
		return s.errAt("a call expected not to connect has no path, time to connect or recovery", "expect", "connected")
	}
	if e.Delivered != nil && (*e.Delivered < 0 || *e.Delivered > 100) {
		return s.errAt(fmt.Sprintf("delivered %g: want a percentage from 0 to 100", *e.Delivered), "expect", "delivered")
	}
	if e.AuthFailure != "" && e.AuthFailure != "a" && e.AuthFailure != "b" {
		return s.errAt(fmt.Sprintf("auth_failure %q: want a or b", e.AuthFailure), "expect", "auth_failure")
	}
	if e.AudioDelivered != nil && (*e.AudioDelivered < 0 || *e.AudioDelivered > 100) {
		return s.errAt(fmt.Sprintf("audio_delivered %g: want a percentage from 0 to 100", *e.AudioDelivered), "expect", "audio_delivered")
	}
	if e.AudioDelivered != nil && !s.Media.Audio {
		return s.errAt("audio_delivered needs media: {audio: true}", "expect", "audio_delivered")
	}
	if e.Rebound != "" {
		if e.Rebound != "a" && e.Rebound != "b" {
			return s.errAt(fmt.Sprintf("rebound %q: want a or b", e.Rebound), "expect", "rebound")
		}
		if !s.Topology.side(e.Rebound).hasNAT() {
			return s.errAt(fmt.Sprintf("rebound %s: side %s has no nat, so no mapping to rebind", e.Rebound, e.Rebound), "expect", "rebound")
		}
	}
	if e.AuthFailure != "" && !s.ICE.TURN {
		return s.errAt("auth_failure needs turn: true", "expect", "auth_failure")
	}
	return nil
}

func (s *Spec) validateSteps() error {
	var last time.Duration
	for i, st := range s.Steps {
		idx := strconv.Itoa(i)
		name, n := st.action()
		if n != 1 {
			return s.errAt(fmt.Sprintf("step %d: want exactly one action (connect, wait_connected, send, impair, cut_direct, restore_direct, ice_restart, silence, rebind, wait, wait_disconnected, wait_recovered, hangup), got %d", i+1, n), "steps", idx)
		}
		if st.At != nil {
			if st.At.D() < last {
				return s.errAt(fmt.Sprintf("step %d: at %v is before the previous step's %v; steps run in order", i+1, st.At.D(), last), "steps", idx, "at")
			}
			last = st.At.D()
		}
		if i == 0 && name != "connect" {
			return s.errAt("the first step must be connect", "steps", idx)
		}
		if i > 0 && name == "connect" {
			return s.errAt(fmt.Sprintf("step %d: connect only as the first step", i+1), "steps", idx)
		}
		switch name {
		case "send":
			if st.Send.Messages <= 0 {
				return s.errAt(fmt.Sprintf("step %d: send needs messages > 0", i+1), "steps", idx, "send")
			}
			if st.Send.Size != 0 && (st.Send.Size < 16 || st.Send.Size > 65535) {
				return s.errAt(fmt.Sprintf("step %d: size %d: want 16 to 65535 bytes", i+1, st.Send.Size), "steps", idx, "send")
			}
		case "impair":
			if st.Impair.Side != "a" && st.Impair.Side != "b" {
				return s.errAt(fmt.Sprintf("step %d: impair side %q: want a or b", i+1, st.Impair.Side), "steps", idx, "impair")
			}
			if st.Impair.Loss < 0 || st.Impair.Loss > 100 {
				return s.errAt(fmt.Sprintf("step %d: loss %g: want 0 to 100", i+1, st.Impair.Loss), "steps", idx, "impair")
			}
			if st.Impair.Latency > 0 {
				sp := s.Topology.A
				if st.Impair.Side == "b" {
					sp = s.Topology.B
				}
				if sp.Latency == 0 && sp.Jitter == 0 {
					return s.errAt(fmt.Sprintf("step %d: impair latency needs side %s to have a latency in topology", i+1, st.Impair.Side), "steps", idx, "impair")
				}
			}
		case "silence", "rebind":
			ss := st.Silence
			if name == "rebind" {
				ss = st.Rebind
			}
			if ss.Side != "a" && ss.Side != "b" {
				return s.errAt(fmt.Sprintf("step %d: %s side %q: want a or b", i+1, name, ss.Side), "steps", idx, name)
			}
			if !s.Topology.side(ss.Side).hasNAT() {
				return s.errAt(fmt.Sprintf("step %d: %s side %s: the side has no nat (set topology.%s.nat)", i+1, name, ss.Side, ss.Side), "steps", idx, name)
			}
			if name == "silence" && ss.For <= 0 {
				return s.errAt(fmt.Sprintf("step %d: silence needs for > 0", i+1), "steps", idx, name)
			}
			if name == "rebind" && ss.For > 0 {
				return s.errAt(fmt.Sprintf("step %d: rebind takes no for: it lasts side %s's mapping_lifetime + 250ms", i+1, ss.Side), "steps", idx, name, "for")
			}
		case "wait_disconnected", "wait_connected", "wait_recovered":
			w := st.WaitDisconnected
			switch name {
			case "wait_connected":
				w = st.WaitConnected
			case "wait_recovered":
				w = st.WaitRecovered
			}
			if w.For > 0 {
				return s.errAt(fmt.Sprintf("step %d: %s takes a timeout, not for", i+1, name), "steps", idx, name, "for")
			}
		case "wait":
			if st.Wait.For <= 0 {
				return s.errAt(fmt.Sprintf("step %d: wait needs for > 0", i+1), "steps", idx, "wait")
			}
		}
	}
	return nil
}

func (st Step) action() (string, int) {
	name, n := "", 0
	set := func(ok bool, s string) {
		if ok {
			name = s
			n++
		}
	}
	set(st.Connect != nil, "connect")
	set(st.WaitConnected != nil, "wait_connected")
	set(st.Send != nil, "send")
	set(st.Impair != nil, "impair")
	set(st.CutDirect != nil, "cut_direct")
	set(st.RestoreDirect != nil, "restore_direct")
	set(st.ICERestart != nil, "ice_restart")
	set(st.Silence != nil, "silence")
	set(st.Rebind != nil, "rebind")
	set(st.Wait != nil, "wait")
	set(st.WaitDisconnected != nil, "wait_disconnected")
	set(st.WaitRecovered != nil, "wait_recovered")
	set(st.HangUp != nil, "hangup")
	return name, n
}

// iceSettings resolves the timeouts preset and overrides.
func (s *Spec) iceSettings() (call.ICESettings, error) {
	ice := call.BrowserLikeICE()
	if s.ICE.Timeouts == "fast" {
		ice = call.FastICE()
	}
	for _, o := range []struct {
		v   *Duration
		dst *time.Duration
	}{
		{s.ICE.DisconnectedTimeout, &ice.DisconnectedTimeout}, {s.ICE.FailedTimeout, &ice.FailedTimeout},
		{s.ICE.KeepAlive, &ice.KeepAlive}, {s.ICE.HostWait, &ice.HostWait}, {s.ICE.SrflxWait, &ice.SrflxWait},
		{s.ICE.PrflxWait, &ice.PrflxWait}, {s.ICE.RelayWait, &ice.RelayWait},
	} {
		if o.v != nil {
			*o.dst = o.v.D()
		}
	}
	if ice.KeepAlive == 0 || ice.DisconnectedTimeout == 0 || ice.FailedTimeout == 0 {
		return ice, errors.New("disconnected_timeout, failed_timeout and keepalive must be positive")
	}
	return ice, nil
}

func (t Topology) side(name string) SideSpec {
	if name == "b" {
		return t.B
	}
	return t.A
}

func (s SideSpec) hasNAT() bool { return s.Mapping != "" || (s.NAT != "" && s.NAT != "open") }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkLANBackend refuses the mDNS and shared-LAN keys on a backend
// without multicast or namespaces to link (vnet).
func (s *Spec) checkLANBackend(net string) error {
	if s.Topology.sharedLAN() {
		return s.errAt(fmt.Sprintf("lan: shared needs the kernel backend (--net kernel): it links the sides' namespaces, which the %s backend does not have", net), "topology", "lan")
	}
	for _, sd := range []struct {
		name string
		sp   SideSpec
	}{{"a", s.Topology.A}, {"b", s.Topology.B}} {
		if sd.sp.MDNS != "" && sd.sp.MDNS != string(call.MDNSOff) {
			return s.errAt(fmt.Sprintf("mdns: %s needs the kernel backend (--net kernel): the %s backend has no multicast", sd.sp.MDNS, net), "topology", sd.name, "mdns")
		}
	}
	return nil
}
