package scenarios

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/vnet"
)

// Environment variables a command peer is started with.
const (
	EnvSignalURL  = "NATKIT_SIGNAL_URL"  // ws://203.0.113.1:443/ws, natkit signal in the WAN namespace
	EnvRoom       = "NATKIT_ROOM"        // the room both peers join
	EnvICEServers = "NATKIT_ICE_SERVERS" // JSON array of RTCIceServer
	EnvRole       = "NATKIT_ROLE"        // offer (side a) or answer (side b)
)

// SignalPort is where the runner's signaling server listens in the WAN
// namespace, on the relay's address: 443, because udp-blocked lets TCP 443
// out.
const SignalPort = 443

// PeerOutcome is how one side's peer ended, when a side runs a command.
type PeerOutcome struct {
	// Peer is "natkit", "command" or "pion-process".
	Peer string `json:"peer"`
	// Role is offer or answer.
	Role    string   `json:"role"`
	Command []string `json:"command,omitempty"`
	// ExitCode is the command's exit status (-1 if it was killed).
	ExitCode  int  `json:"exit_code"`
	Connected bool `json:"connected"`
	// Path is direct or relay, as the peer reported it ("" when not).
	Path string `json:"path,omitempty"`
	// Detail is the command's own words from its JSON line, or the
	// engine's error.
	Detail string `json:"detail,omitempty"`
	// StderrTail is the end of the command's stderr.
	StderrTail string `json:"stderr_tail,omitempty"`
}

// commandNetwork is what a command peer needs beyond Network: the side's
// namespace to start the program in, and the WAN for the signaling server.
type commandNetwork interface {
	Network
	Namespaces() map[string]string
	WANNet() *lab.Net
}

var _ commandNetwork = (*lab.Topology)(nil)

// validateCommand refuses what a command peer's call cannot honour: the
// runner does not hold the call, so it cannot act on it mid-way or measure
// inside it.
func (s *Spec) validateCommand() error {
	for i, st := range s.Steps {
		switch name, _ := st.action(); name {
		case "connect", "wait_connected", "send", "hangup":
		default:
			return s.errAt(fmt.Sprintf("step %d: %s is not available with peer: command (the program owns its call; steps: connect, wait_connected, send, hangup)", i+1, name), "steps", fmt.Sprint(i))
		}
	}
	sg := s.Signaling
	if sg.Delay > 0 || sg.Jitter > 0 || sg.Reorder || len(sg.DropCandidates) > 0 || sg.CandidatesBeforeOffer > 0 {
		return s.errAt("signaling settings are not available with peer: command (it signals through natkit signal)", "signaling")
	}
	if s.Media.Audio {
		return s.errAt("media.audio is not available with peer: command", "media")
	}
	e := s.Expect
	for _, k := range []struct {
		set bool
		key string
	}{{e.Within > 0, "within"}, {e.Delivered != nil, "delivered"}, {e.RecoversWithin > 0, "recovers_within"},
		{e.AuthFailure != "", "auth_failure"}, {e.AudioDelivered != nil, "audio_delivered"},
		{e.DetectedWithin > 0, "detected_within"}, {e.Rebound != "", "rebound"}, {e.RelayProtocol != "", "relay_protocol"}, {e.Protocol != "", "protocol"}} {
		if k.set {
			return s.errAt(fmt.Sprintf("expect %s is not available with peer: command (only connected and path)", k.key), "expect", k.key)
		}
	}
	return nil
}

// CheckBackend returns the *ParseError of a key the network backend called
// net ("vnet" or "kernel") cannot honour in s, before anything is built:
// peer: command and relay: coturn need the kernel.
func (s *Spec) CheckBackend(net string) error {
	if net == NetKernel {
		return nil
	}
	if net == "" {
		net = NetVNet
	}
	if side, preset := s.kernelPreset(); side != "" {
		return s.errAt(fmt.Sprintf("nat: %s needs the kernel backend (--net kernel): %s does not model it", preset, net), "topology", side, "nat")
	}
	if s.Topology.hasCommand() {
		return s.refuseCommand(net)
	}
	if s.Topology.hasProcessPeer() {
		return s.refuseProcessPeer(net)
	}
	if err := s.checkLANBackend(net); err != nil {
		return err
	}
	if t := s.ICE.TURNTransport; t == TURNOverTCP || t == TURNOverTLS || t == TURNOverDTLS {
		return s.errAt(fmt.Sprintf("turn_transport %s needs the kernel backend (--net kernel): %s's relay takes TURN over UDP only", t, net), "ice", "turn_transport")
	}
	if s.ICE.ICETCP {
		return s.errAt(fmt.Sprintf("ice_tcp needs the kernel backend (--net kernel): %s has no TCP", net), "ice", "ice_tcp")
	}
	if s.Relay == lab.RelayCoturn {
		return s.errAt(fmt.Sprintf("relay: coturn is not available on the %s backend: it runs Debian's turnserver inside the WAN namespace (use --net kernel)", net), "relay")
	}
	return nil
}

// sideURLs is a network whose sides reach the relay by different URLs.
type sideURLs interface {
	STUNURLFor(side string) string
	TURNURLFor(side string) []string
}

// streamURLs is a network whose relay takes TURN over TCP, TLS and DTLS
// (the kernel lab, with lab.Config.RelayTLS and RelayDTLS for the last
// two).
type streamURLs interface {
	TURNTCPURL() string
	TURNTLSURL() string
	TURNDTLSURL() string
	RelayRootCAs() *x509.CertPool
	RelayCertPEM() []byte
}

// kernelPreset returns the first side naming a kernel preset that vnet
// does not model, and the preset.
func (s *Spec) kernelPreset() (side, preset string) {
	for _, sd := range []struct {
		name string
		sp   SideSpec
	}{{"a", s.Topology.A}, {"b", s.Topology.B}} {
		if sd.sp.NAT == "" {
			continue
		}
		if _, err := vnet.LookupPreset(sd.sp.NAT); err != nil {
			return sd.name, sd.sp.NAT
		}
	}
	return "", ""
}

// LibraryNamesFor lists the shipped scenarios the backend called net can
// run (vnet leaves out those that need the kernel).
func LibraryNamesFor(net string) []string {
	var names []string
	for _, name := range LibraryNames() {
		if s, err := Library(name); err == nil && s.CheckBackend(net) == nil {
			names = append(names, name)
		}
	}
	return names
}

// refuseCommand is the error for a command peer on a backend that cannot
// start a program inside a side.
func (s *Spec) refuseCommand(backend string) error {
	side := "a"
	if !s.Topology.A.isCommand() {
		side = "b"
	}
	return s.errAt(fmt.Sprintf("peer: command is not available on the %s backend: it runs a program inside the side's network namespace (use --net kernel)", backend), "topology", side, "peer")
}

// runCommands runs a call with at least one command peer: natkit signal in
// the WAN namespace, each side's peer (a program in the side's namespace, or
// natkit's engine through the signaling server), and their outcomes judged.
func runCommands(ctx context.Context, s *Spec, top Network, o Options, res *Result) error {
	cn, ok := top.(commandNetwork)
	if !ok {
		return s.refuseCommand(o.Net)
	}
	sig, err := startWANSignal(s, cn, o)
	if err != nil {
		return err
	}
	defer sig.close()
	room, url := sig.room, sig.wsURL()
	// Bounds the whole call: connect, probes, and the answerer's wait for
	// bye.
	timeout := o.WaitTimeout
	for _, st := range s.Steps {
		if st.WaitConnected != nil && st.WaitConnected.Timeout > 0 {
			timeout = st.WaitConnected.Timeout.D()
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 2*timeout+10*time.Second)
	defer cancel()
	// The engine gives up when a command peer has exited without a call.
	engineCtx, stopEngine := context.WithCancel(cctx)
	defer stopEngine()

	res.Peers = map[string]*PeerOutcome{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		sp := s.Topology.side(side)
		role := client.RoleOffer
		if side == vnet.SideB {
			role = client.RoleAnswer
		}
		servers := s.iceServers(top, side)
		if sp.isCommand() {
			ns := cn.Namespaces()[side]
			env := []string{EnvSignalURL + "=" + url, EnvRoom + "=" + room, EnvRole + "=" + role}
			js, _ := json.Marshal(servers)
			env = append(env, EnvICEServers+"="+string(js))
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := runCommand(cctx, ns, sp.Command, env)
				out.Role = role
				if !out.Connected {
					stopEngine()
				}
				mu.Lock()
				res.Peers[side] = out
				mu.Unlock()
			}()
			continue
		}
		cfg, err := pionCallConfig(s, top, o, side, sig, timeout)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr, err := client.Call(engineCtx, cfg)
			out := &PeerOutcome{Peer: PeerNatkit, Role: role}
			if cr == nil {
				out.Detail = err.Error()
				cr = call.NotStarted(engineCtx, time.Now(), &call.Timeline{}, err)
			}
			out.Connected = cr.Connected
			if cr.Connected {
				out.Path = pathWord(cr.Path)
			} else if cr.Error != "" {
				out.Detail = cr.Error
			}
			mu.Lock()
			res.Call, res.Peers[side] = cr, out
			mu.Unlock()
		}()
	}
	wg.Wait()
	if engineCtx.Err() != nil && cctx.Err() == nil {
		// The engine's view of a call that never happened is no outcome:
		// "interrupted" would blame the user.
		res.Call = nil
		for _, p := range res.Peers {
			if p.Peer == PeerNatkit && !p.Connected {
				p.Detail = "stopped: the command peer exited without connecting"
			}
		}
	}
	return ctx.Err()
}

func pathWord(p call.Path) string {
	switch {
	case p.Class == call.PathRelay:
		return "relay"
	case p.Direct():
		return "direct"
	}
	return string(p.Class)
}

// iceServers are the ICE servers side's peer is given.
func (s *Spec) iceServers(top Network, side string) []webrtc.ICEServer {
	var servers []webrtc.ICEServer
	stunURL, turnURLs := top.STUNURL(), []string{top.TURNURL()}
	if f, ok := top.(sideURLs); ok {
		// The kernel lab: an IPv6-only side reaches the relay by the name
		// its DNS64 resolves.
		stunURL, turnURLs = f.STUNURLFor(side), f.TURNURLFor(side)
	}
	if f, ok := top.(streamURLs); ok {
		switch s.ICE.TURNTransport {
		case TURNOverUDP:
			turnURLs = withTransport(turnURLs, "udp", "")
		case TURNOverTCP:
			// The side's own (an IPv6-only side's by the relay's name).
			turnURLs = withTransport(turnURLs, "tcp", f.TURNTCPURL())
		case TURNOverTLS:
			turnURLs = []string{f.TURNTLSURL()}
		case TURNOverDTLS:
			turnURLs = []string{f.TURNDTLSURL()}
		}
	}
	if s.ICE.STUN == nil || *s.ICE.STUN {
		servers = append(servers, webrtc.ICEServer{URLs: []string{stunURL}})
	}
	if s.ICE.TURN {
		cred := Credential{Username: "natkit", Password: "natkit"}
		if c, ok := s.ICE.Credentials[side]; ok {
			cred = c
		}
		servers = append(servers, webrtc.ICEServer{URLs: turnURLs, Username: cred.Username, Credential: cred.Password})
	}
	return servers
}

// withTransport is the URL of urls whose transport is t, else fallback
// (none when it is "").
func withTransport(urls []string, t, fallback string) []string {
	for _, u := range urls {
		if strings.HasSuffix(u, "?transport="+t) {
			return []string{u}
		}
	}
	if fallback == "" {
		return nil
	}
	return []string{fallback}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// commandLine is the optional JSON result a command prints as its last
// stdout line.
type commandLine struct {
	Connected *bool  `json:"connected"`
	Path      string `json:"path"`
	Detail    string `json:"detail"`
}

// runCommand runs argv inside namespace ns until it exits or ctx ends
// (then its process group is killed by its PID), and reads its outcome:
// connected when it exits 0, unless its last stdout line says otherwise.
func runCommand(ctx context.Context, ns string, argv, env []string) *PeerOutcome {
	out := &PeerOutcome{Peer: PeerCommand, Command: argv, ExitCode: -1}
	stdout, stderr := &tailBuffer{max: 64 << 10}, &tailBuffer{max: 2 << 10}
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:gosec // running the user's program is what peer: command is for
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so that what it started goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := lab.StartIn(ns, cmd); err != nil {
		out.Detail = fmt.Sprintf("start %s: %v", argv[0], err)
		return out
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		waitErr = <-done
		out.Detail = "killed: " + ctx.Err().Error()
	}
	var ee *exec.ExitError
	switch {
	case waitErr == nil:
		out.ExitCode = 0
	case errors.As(waitErr, &ee):
		out.ExitCode = ee.ExitCode()
	}
	out.StderrTail = strings.TrimSpace(stderr.String())
	out.Connected = out.ExitCode == 0
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := bytes.TrimSpace([]byte(lines[len(lines)-1]))
	var cl commandLine
	if len(last) > 0 && last[0] == '{' && json.Unmarshal(last, &cl) == nil {
		if cl.Connected != nil {
			out.Connected = out.ExitCode == 0 && *cl.Connected
		}
		out.Path = cl.Path
		if cl.Detail != "" {
			out.Detail = cl.Detail
		}
	}
	return out
}

// judgeCommands judges a call with command peers: it connected when every
// side says so; its path is what the sides reported.
func (r *runner) judgeCommands() {
	res, e := r.res, r.spec.Expect
	connected := true
	var paths []string
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		p := res.Peers[side]
		if p == nil {
			connected = false
			continue
		}
		if !p.Connected {
			connected = false
			d := fmt.Sprintf("side %s: %s peer (%s) did not connect", side, p.Peer, p.Role)
			if p.Peer == PeerCommand {
				d = fmt.Sprintf("side %s: command %s exited %d", side, strings.Join(p.Command, " "), p.ExitCode)
				if p.ExitCode == 0 {
					d += " but reported connected: false"
				}
			}
			if p.Detail != "" {
				d += ": " + p.Detail
			}
			if p.StderrTail != "" {
				d += "; stderr: " + lastLines(p.StderrTail, 5)
			}
			res.Diagnoses = append(res.Diagnoses, d)
		}
		if p.Path != "" {
			paths = append(paths, side+" "+p.Path)
		}
	}
	add := func(id, name string, pass bool, expected, observed string) {
		res.Checks = append(res.Checks, Check{ID: id, Name: name, Pass: pass, Expected: expected, Observed: observed})
	}
	if e.Connected != nil {
		want, obs := "connected", "connected"
		if !*e.Connected {
			want = "not connected"
		}
		if !connected {
			obs = "not connected"
		}
		add("connected", "the call connects (every side)", connected == *e.Connected, want, obs)
	}
	if e.Path != "" && e.Path != "any" {
		ok := connected && len(paths) > 0
		for _, p := range paths {
			_, word, _ := strings.Cut(p, " ")
			ok = ok && word == e.Path
		}
		obs := "no side reported a path"
		if len(paths) > 0 {
			obs = strings.Join(paths, ", ")
		}
		add("path", "the media path", ok, e.Path, obs)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
