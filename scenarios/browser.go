package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/natkit/natkit/probe/browser"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/vnet"
)

func (s SideSpec) isChromium() bool { return s.Peer == PeerChromium }

// hasChromium reports whether either side runs a chromium peer.
func (t Topology) hasChromium() bool { return t.A.isChromium() || t.B.isChromium() }

// chromiumSteps are the steps a browser peer can take.
var chromiumSteps = []string{"connect", "wait_connected", "send", "ice_restart", "hangup"}

// validateChromiumSteps refuses the steps a chromium peer cannot take:
// the runner drives a page, not the network or the browser's ICE agent.
func (s *Spec) validateChromiumSteps() error {
	for i, st := range s.Steps {
		name, _ := st.action()
		if !contains(chromiumSteps, name) {
			return s.errAt(fmt.Sprintf("step %d: %s is not available with peer: chromium (a browser peer can do: %s)", i+1, name, strings.Join(chromiumSteps, ", ")), "steps", fmt.Sprint(i))
		}
		if name == "ice_restart" && !s.Topology.A.isChromium() {
			return s.errAt(fmt.Sprintf("step %d: ice_restart with peer: chromium needs side a (the offerer) to be the chromium peer: natkit's engine across signaling runs its call on its own", i+1), "steps", fmt.Sprint(i))
		}
	}
	return nil
}

// chromiumSlots hold at most one browser per side at a time in this
// process, whatever Options.Parallel says: on 2 cores, two Chromiums per
// call are already the bottleneck, and more only slow every call down.
var chromiumSlots = map[string]chan struct{}{vnet.SideA: make(chan struct{}, 1), vnet.SideB: make(chan struct{}, 1)}

// takeChromiumSlots takes the slots of s's chromium sides (in side order,
// so two runs never hold one each) and returns their release.
func takeChromiumSlots(ctx context.Context, s *Spec) (func(), error) {
	var held []chan struct{}
	release := func() {
		for _, c := range held {
			<-c
		}
	}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if !s.Topology.side(side).isChromium() {
			continue
		}
		select {
		case chromiumSlots[side] <- struct{}{}:
			held = append(held, chromiumSlots[side])
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

// chromiumPeer is a browser with natkit signal's peer page open: the
// runner drives it step by step over DevTools.
type chromiumPeer struct{ p *browser.Peer }

// launchChromium starts side's browser inside its namespace and opens the
// peer page.
func launchChromium(ctx context.Context, s *Spec, top Network, cn commandNetwork, o Options, side string, sig wanSignal) (processPeer, error) {
	role := browser.RoleOffer
	if side == vnet.SideB {
		role = browser.RoleAnswer
	}
	var servers []browser.ICEServer
	for _, is := range s.iceServers(top, side) {
		servers = append(servers, browser.ICEServer{URLs: is.URLs, Username: is.Username, Credential: fmt.Sprint(is.Credential)})
	}
	b, err := browser.Launch(ctx, browser.Config{Namespace: cn.Namespaces()[side], Logger: o.Logger,
		HideLocalIPs: s.Topology.side(side).MDNS == string(call.MDNSGather)})
	if err != nil {
		return nil, err
	}
	p, err := b.Open(ctx, browser.PeerConfig{Name: side, PageURL: sig.pageURL(), Room: sig.room, Role: role,
		ICEServers: servers, RelayOnly: s.ICE.Policy == "relay"})
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return &chromiumPeer{p: p}, nil
}

func (c *chromiumPeer) start(ctx context.Context) error         { return c.p.Start(ctx) }
func (c *chromiumPeer) waitConnected(ctx context.Context) error { return c.p.WaitConnected(ctx) }
func (c *chromiumPeer) probe(ctx context.Context, p call.ProbeConfig) error {
	return c.p.Probe(ctx, p)
}
func (c *chromiumPeer) restartICE(ctx context.Context) error { return c.p.RestartICE(ctx) }
func (c *chromiumPeer) hangUp(ctx context.Context) error     { return c.p.HangUp(ctx) }
func (c *chromiumPeer) waitHangUp(ctx context.Context) error { return c.p.WaitHangUp(ctx) }

// finished: a driven browser's call ends with the steps.
func (c *chromiumPeer) finished(context.Context) {}

func (c *chromiumPeer) view(ctx context.Context, side string, v *peerViews) {
	v.browsers[side] = c.p.Result(ctx)
}

func (c *chromiumPeer) close() error { return c.p.Browser().Close() }

// addBrowsers adds each chromium peer's figures to rep: metrics named
// "<side>.<metric>" (browser start and page load apart from the call's ICE
// times, so the report shows where the time goes), a table of those times
// side by side, and each browser's version, flags, selected pair and
// candidates.
func (r *Result) addBrowsers(rep *reports.Report) {
	if len(r.Browsers) == 0 {
		return
	}
	ms := func(d time.Duration) string {
		if d <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	t := reports.Table{Title: "chromium: where the time goes", Columns: []string{"side", "browser start", "page load",
		"first candidate", "first srflx", "first relay", "ice connected", "connected", "first message", "ice rtt"}}
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		br := r.Browsers[side]
		if br == nil {
			continue
		}
		rep.Metrics = append(rep.Metrics, br.Metrics(side+".")...)
		tm := br.Timings
		t.Rows = append(t.Rows, []string{side, ms(br.Browser.StartTime), ms(br.PageLoad), ms(tm.FirstCandidate), ms(tm.FirstSrflx),
			ms(tm.FirstRelay), ms(tm.ICEConnected), ms(tm.Connected), ms(tm.FirstMessage), ms(br.ICERTT)})
	}
	if len(r.Browsers) == 2 {
		// pion's ICE settings (all zero here) say nothing of Chromium's.
		kept := rep.Tables[:0]
		for _, tb := range rep.Tables {
			if tb.Title != "ice settings" {
				kept = append(kept, tb)
			}
		}
		rep.Tables = kept
	}
	rep.Tables = append(rep.Tables, t)
	for _, side := range []string{vnet.SideA, vnet.SideB} {
		if br := r.Browsers[side]; br != nil {
			// Its candidates are in the call's table already.
			rep.Tables = append(rep.Tables, br.InfoTable())
		}
	}
}
