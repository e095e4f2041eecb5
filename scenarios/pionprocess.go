package scenarios

import (
	"bytes"
	"context"
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
	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/vnet"
)

// pionProcessSteps are the steps natkit call takes, in this order, each
// at most once: they are its command line.
var pionProcessSteps = []string{"connect", "wait_connected", "send", "hangup"}

// validatePionProcessSteps refuses what natkit call cannot do: it runs its
// call on its own, connect, wait, probe, hang up, on its own clock.
func (s *Spec) validatePionProcessSteps() error {
	last := -1
	for i, st := range s.Steps {
		name, _ := st.action()
		idx := fmt.Sprint(i)
		k := -1
		for j, n := range pionProcessSteps {
			if n == name {
				k = j
			}
		}
		switch {
		case k < 0:
			return s.errAt(fmt.Sprintf("step %d: %s is not available with peer: pion-process (natkit call runs its own call; steps: %s, in that order)", i+1, name, strings.Join(pionProcessSteps, ", ")), "steps", idx)
		case k <= last:
			return s.errAt(fmt.Sprintf("step %d: %s is not available here with peer: pion-process (natkit call takes %s once each, in that order)", i+1, name, strings.Join(pionProcessSteps, ", ")), "steps", idx)
		case st.At != nil:
			return s.errAt(fmt.Sprintf("step %d: at is not available with peer: pion-process (natkit call keeps its own clock)", i+1), "steps", idx, "at")
		case name == "send" && st.Send.Interval > 0:
			return s.errAt(fmt.Sprintf("step %d: send interval is not available with peer: pion-process (natkit call sends every 20ms)", i+1), "steps", idx, "send")
		}
		last = k
	}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		sp := s.Topology.side(side)
		if sp.Peer != PeerPionProcess {
			continue
		}
		if p, err := lab.LookupPreset(sp.NAT); err == nil && p.Family == lab.FamilyIPv6 {
			return s.errAt("peer: pion-process is not available on an IPv6-only side: the lab's DNS64, which gives that side the relay's name, lives in natkit's own process, not in natkit call's", "topology", side, "peer")
		}
	}
	return nil
}

// NatkitBinaryError: the natkit binary a pion-process peer runs
// (Options.Natkit) cannot be found.
type NatkitBinaryError struct {
	Path string
	Err  error
}

func (e *NatkitBinaryError) Error() string {
	return fmt.Sprintf("peer: pion-process runs natkit call: natkit binary %q: %v (set Options.Natkit, or put natkit on PATH)", e.Path, e.Err)
}

func (e *NatkitBinaryError) Unwrap() error { return e.Err }

// pionProcess is natkit call, natkit's engine as a process of its own in a
// side's namespace (`ip netns exec NS natkit call --role …`), in its own
// process group. Its steps are its command line; its JSON report is its
// side of the call.
type pionProcess struct {
	side, role string
	argv       []string // ip netns exec NS natkit call …
	stdin      []byte   // the ICE servers, JSON
	env        []string
	caFile     string // SSL_CERT_FILE, removed by close

	mu      sync.Mutex
	cmd     *exec.Cmd
	started time.Time
	stdout  bytes.Buffer
	stderr  *tailBuffer
	done    chan struct{}
	waitErr error
}

// pionProcessCA, when set (by tests), is the CA a pion-process peer trusts
// instead of the lab relay's.
var pionProcessCA []byte

// newPionProcess prepares side's natkit call: its arguments from the
// scenario, its ICE servers, and the lab CA as its trust store.
func newPionProcess(s *Spec, top Network, cn commandNetwork, o Options, side string, sig wanSignal, timeout time.Duration) (processPeer, error) {
	bin := o.Natkit
	if bin == "" {
		bin = "natkit"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, &NatkitBinaryError{Path: bin, Err: err}
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return nil, fmt.Errorf("ip netns exec: %w (apt-get install iproute2)", err)
	}
	role := string(call.RoleOffer)
	if side == vnet.SideB {
		role = string(call.RoleAnswer)
	}
	args := []string{"call", "--role", role, "--signal", sig.wsURL(), "--room", sig.room,
		"--timeout", timeout.String(), "--format", "json", "--log-level", "warn"}
	p := &pionProcess{side: side, role: role, stderr: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	if servers := processICEServers(s.iceServers(top, side)); len(servers) > 0 {
		js, err := json.Marshal(servers)
		if err != nil {
			return nil, fmt.Errorf("ice servers for natkit call: %w", err)
		}
		args = append(args, "--ice-servers", "-")
		p.stdin = js
	}
	if s.ICE.Policy == "relay" {
		args = append(args, "--relay-only")
	}
	if s.ICE.ICETCP {
		// Its own process in the namespace: pion's active dials are born
		// there, so it makes active candidates too.
		args = append(args, "--ice-tcp")
		if s.ICE.ICETCPPort != 0 {
			args = append(args, "--ice-tcp-port", fmt.Sprint(s.ICE.ICETCPPort))
		}
	}
	if st := s.sendStep(); st != nil {
		args = append(args, "--messages", fmt.Sprint(st.Messages))
		if st.Size > 0 {
			args = append(args, "--size", fmt.Sprint(st.Size))
		}
	}
	p.argv = append([]string{ip, "netns", "exec", cn.Namespaces()[side], path}, args...)
	// The child's own settings only: natkit's secrets and trust store in
	// this process's environment are not its.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATKIT_") && !strings.HasPrefix(kv, "SSL_CERT_") {
			p.env = append(p.env, kv)
		}
	}
	ca := pionProcessCA
	if f, ok := top.(streamURLs); ok && ca == nil {
		ca = f.RelayCertPEM()
	}
	if ca != nil {
		// Go's x509 reads SSL_CERT_FILE as the system roots on Linux: the
		// lab CA is installed on this "device", so pion's own
		// verification (the only one it has for TURN/DTLS) checks the
		// relay for real.
		f, err := os.CreateTemp("", "natkit-lab-ca-*.pem")
		if err != nil {
			return nil, fmt.Errorf("lab CA for natkit call: %w", err)
		}
		p.caFile = f.Name()
		_, werr := f.Write(ca)
		if err := errors.Join(werr, f.Close()); err != nil {
			_ = os.Remove(p.caFile)
			return nil, fmt.Errorf("lab CA for natkit call: %w", err)
		}
		p.env = append(p.env, "SSL_CERT_FILE="+p.caFile)
	}
	return p, nil
}

// processICEServers are ICE servers for a process outside lab.Net: the
// relay by its address, which its certificate holds too, since the lab's
// resolver answers only inside natkit's own process.
func processICEServers(servers []webrtc.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, len(servers))
	for i, s := range servers {
		s.URLs = append([]string(nil), s.URLs...)
		for j, u := range s.URLs {
			s.URLs[j] = strings.Replace(u, ":"+lab.RelayName+":", ":"+lab.RelayIP+":", 1)
		}
		out[i] = s
	}
	return out
}

func (p *pionProcess) start(context.Context) error {
	cmd := exec.Command(p.argv[0], p.argv[1:]...) //nolint:gosec // natkit's own binary, arguments built above
	cmd.Env = p.env
	cmd.Stdin = bytes.NewReader(p.stdin)
	cmd.Stdout, cmd.Stderr = &p.stdout, p.stderr
	// ip execs natkit, so the PID is natkit call's; its own group, killed
	// with the thread that started it if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := cmd.Start(); err != nil {
		close(p.done)
		return fmt.Errorf("start natkit call: %w", err)
	}
	p.cmd, p.started = cmd, time.Now()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	return nil
}

// natkit call connects, probes and hangs up on its own.
func (p *pionProcess) waitConnected(context.Context) error           { return nil }
func (p *pionProcess) probe(context.Context, call.ProbeConfig) error { return nil }
func (p *pionProcess) hangUp(context.Context) error                  { return nil }

func (p *pionProcess) restartICE(context.Context) error {
	return errors.New("ice_restart is not available with peer: pion-process")
}

// waitHangUp: an answering natkit call exits on the offerer's bye.
func (p *pionProcess) waitHangUp(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("natkit call on side %s still running: %w", p.side, ctx.Err())
	}
}

// finished waits for natkit call to end its call; past ctx (Ctrl-C, or the
// call's bound) it stops it.
func (p *pionProcess) finished(ctx context.Context) {
	if p.waitHangUp(ctx) != nil {
		p.kill()
	}
}

// interruptGrace is how long natkit call has, after SIGINT, to write its
// report (verdict interrupted) before its group is killed.
const interruptGrace = 2 * time.Second

// kill stops natkit call as Ctrl-C would (SIGINT: it still writes its
// report), then kills its process group, by the PID start started, if it
// is not gone after interruptGrace; it returns once natkit call is reaped.
func (p *pionProcess) kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGINT)
	t := time.NewTimer(interruptGrace)
	defer t.Stop()
	select {
	case <-p.done:
		// Reaped: its PID, and so its group's ID, may be another's now.
		return
	case <-t.C:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *pionProcess) view(ctx context.Context, side string, v *peerViews) {
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	p.kill()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := &PeerOutcome{Peer: PeerPionProcess, Role: p.role, Command: p.argv, ExitCode: -1, StderrTail: strings.TrimSpace(p.stderr.String())}
	var ee *exec.ExitError
	switch {
	case p.cmd == nil:
	case p.waitErr == nil:
		out.ExitCode = 0
	case errors.As(p.waitErr, &ee):
		out.ExitCode = ee.ExitCode()
	}
	r, err := readCallReport(p.stdout.Bytes())
	if err != nil {
		what := fmt.Sprintf("exited %d", out.ExitCode)
		if out.ExitCode < 0 {
			what = "was killed"
			if p.waitErr != nil {
				what += " (" + p.waitErr.Error() + ")"
			}
		}
		msg := fmt.Sprintf("natkit call (pion-process) %s without its report: %v", what, err)
		if out.StderrTail != "" {
			msg += "; stderr: " + lastLines(out.StderrTail, 3)
		}
		r = &call.Result{Started: p.started, Candidates: map[string][]call.Candidate{}, Path: call.Path{Class: call.PathNone},
			Cause: call.CausePeerCrashed, Error: msg}
	}
	out.Connected = r.Connected
	if r.Connected {
		out.Path = pathWord(r.Path)
	}
	out.Detail = r.Error
	v.engines[side], v.procs[side] = r, out
}

// readCallReport reads natkit call's JSON report back into its Result,
// with the data-channel RTT from its histogram.
func readCallReport(b []byte) (*call.Result, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("no report on stdout")
	}
	rep, err := reports.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var r call.Result
	if err := rep.DecodeDetails(&r); err != nil {
		return nil, err
	}
	for _, m := range rep.Metrics {
		if m.Name == "datachannel_rtt" {
			if rec, err := reports.RecorderOf(m); err == nil {
				r.RTT = rec
			}
		}
	}
	if r.Candidates == nil {
		r.Candidates = map[string][]call.Candidate{}
	}
	return &r, nil
}

func (p *pionProcess) close() error {
	p.kill()
	if p.caFile != "" {
		return os.Remove(p.caFile)
	}
	return nil
}
