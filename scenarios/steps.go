package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/vnet"
)

// action is one step kind, with its own run method.
type action interface {
	name() string
	run(ctx context.Context, r *runner) error
}

// toAction returns the step's action; validate has made sure there is
// exactly one.
func (st Step) toAction() (action, error) {
	switch {
	case st.Connect != nil:
		return connectAction{}, nil
	case st.WaitConnected != nil:
		return waitConnectedAction{timeout: st.WaitConnected.Timeout}, nil
	case st.Send != nil:
		return sendAction(*st.Send), nil
	case st.Impair != nil:
		return impairAction(*st.Impair), nil
	case st.CutDirect != nil:
		return cutDirectAction{}, nil
	case st.RestoreDirect != nil:
		return restoreDirectAction{}, nil
	case st.ICERestart != nil:
		return iceRestartAction{}, nil
	case st.Silence != nil:
		return silenceAction(*st.Silence), nil
	case st.Rebind != nil:
		return rebindAction{side: st.Rebind.Side}, nil
	case st.Wait != nil:
		return waitAction{d: st.Wait.For.D()}, nil
	case st.WaitDisconnected != nil:
		return waitDisconnectedAction{timeout: st.WaitDisconnected.Timeout}, nil
	case st.WaitRecovered != nil:
		return waitRecoveredAction{timeout: st.WaitRecovered.Timeout}, nil
	case st.HangUp != nil:
		return hangUpAction{}, nil
	}
	return nil, errors.New("no action")
}

type connectAction struct{}

func (connectAction) name() string { return "connect" }
func (connectAction) run(ctx context.Context, r *runner) error {
	r.t0 = time.Now()
	return r.c.Start(ctx)
}

type waitConnectedAction struct{ timeout Duration }

func (waitConnectedAction) name() string { return "wait_connected" }
func (a waitConnectedAction) run(ctx context.Context, r *runner) error {
	wctx, cancel := context.WithTimeout(ctx, r.timeout(a.timeout))
	defer cancel()
	if err := r.c.WaitConnected(wctx); err != nil {
		r.connectErr = err
		return err
	}
	r.connected = true
	return nil
}

type sendAction SendStep

func (sendAction) name() string { return "send" }
func (a sendAction) run(ctx context.Context, r *runner) error {
	if err := r.needsCall(); err != nil {
		return err
	}
	_, err := r.c.Probe(ctx, call.ProbeConfig{Count: a.Messages, Size: a.Size, Interval: a.Interval.D()})
	return err
}

type impairAction ImpairStep

func (impairAction) name() string { return "impair" }
func (a impairAction) run(_ context.Context, r *runner) error {
	if err := r.top.SetImpairment(a.Side, vnet.Impairment{LossPercent: a.Loss, Latency: a.Latency.D()}); err != nil {
		return err
	}
	r.disrupted = time.Now()
	r.event(EvImpair, fmt.Sprintf("side %s: loss %g%%, latency %v, for %v", a.Side, a.Loss, a.Latency.D(), a.For.D()))
	if a.For > 0 {
		side := a.Side
		r.after(a.For.D(), func() {
			if err := r.top.Restore(side); err != nil {
				r.event(EvStepError, "restore side "+side+": "+err.Error())
				return
			}
			r.event(EvRestore, "side "+side+" back to its topology")
		})
	}
	return nil
}

type cutDirectAction struct{}

func (cutDirectAction) name() string { return "cut_direct" }
func (cutDirectAction) run(_ context.Context, r *runner) error {
	r.top.CutDirect(true)
	r.disrupted = time.Now()
	r.event(EvCut, "every packet between a and b that does not go through the relay is dropped")
	return nil
}

type restoreDirectAction struct{}

func (restoreDirectAction) name() string { return "restore_direct" }
func (restoreDirectAction) run(_ context.Context, r *runner) error {
	r.top.CutDirect(false)
	r.event(EvRestore, "direct path between a and b open again")
	return nil
}

type iceRestartAction struct{}

func (iceRestartAction) name() string { return "ice_restart" }
func (iceRestartAction) run(_ context.Context, r *runner) error {
	if err := r.needsCall(); err != nil {
		return err
	}
	if r.disrupted.IsZero() {
		r.disrupted = time.Now()
	}
	return r.c.A.RestartICE()
}

type silenceAction SideStep

func (silenceAction) name() string { return "silence" }
func (a silenceAction) run(_ context.Context, r *runner) error {
	if err := r.top.Silence(a.Side, true); err != nil {
		return err
	}
	r.disrupted = time.Now()
	r.event(EvSilence, fmt.Sprintf("side %s sends nothing for %v: its NAT sees no outbound packet (mapping lifetime %v)", a.Side, a.For.D(), r.top.MappingLifetime(a.Side)))
	side := a.Side
	r.after(a.For.D(), func() {
		if err := r.top.Silence(side, false); err != nil {
			r.event(EvStepError, "end silence of side "+side+": "+err.Error())
			return
		}
		r.event(EvSilenceEnd, "side "+side+" sends again")
	})
	return nil
}

type rebindAction struct{ side string }

func (rebindAction) name() string { return "rebind" }
func (a rebindAction) run(ctx context.Context, r *runner) error {
	r.event(EvRebind, fmt.Sprintf("side %s silent at its NAT for its mapping lifetime %v + %v", a.side, r.top.MappingLifetime(a.side), vnet.RebindMargin))
	if _, err := r.top.Rebind(ctx, a.side); err != nil {
		return err
	}
	r.disrupted = time.Now() // the new mapping takes effect now
	r.event(EvRebindEnd, "side "+a.side+"'s NAT has forgotten its mappings: the next packet from each socket leaves from a new external port")
	return nil
}

type waitAction struct{ d time.Duration }

func (waitAction) name() string                               { return "wait" }
func (a waitAction) run(ctx context.Context, _ *runner) error { return sleepCtx(ctx, a.d) }

type waitDisconnectedAction struct{ timeout Duration }

func (waitDisconnectedAction) name() string { return "wait_disconnected" }

// waitWindow is the bounded wait of a wait_* step on a connected call.
type waitWindow struct {
	ctx     context.Context // the caller's
	from    time.Time       // the disruption measured from
	timeout time.Duration
}

func (r *runner) startWait(ctx context.Context, d Duration) (*waitWindow, context.Context, context.CancelFunc, error) {
	if err := r.needsCall(); err != nil {
		return nil, nil, nil, err
	}
	w := &waitWindow{ctx: ctx, from: r.since(), timeout: r.timeout(d)}
	wctx, cancel := context.WithTimeout(ctx, w.timeout)
	return w, wctx, cancel, nil
}

// expired is the caller's error when it ended the wait, else "none
// within the timeout".
func (w *waitWindow) expired(none string) error {
	if w.ctx.Err() != nil {
		return w.ctx.Err()
	}
	return fmt.Errorf("%s within %v", none, w.timeout)
}

// run blocks until either peer connection reports disconnected or failed.
func (a waitDisconnectedAction) run(ctx context.Context, r *runner) error {
	w, wctx, cancel, err := r.startWait(ctx, a.timeout)
	if err != nil {
		return err
	}
	defer cancel()
	type seen struct {
		p  *call.Peer
		st webrtc.PeerConnectionState
	}
	first := make(chan seen, 2)
	dead := func(s webrtc.PeerConnectionState) bool {
		return s == webrtc.PeerConnectionStateDisconnected || s == webrtc.PeerConnectionStateFailed
	}
	for _, p := range []*call.Peer{r.c.A, r.c.B} {
		go func(p *call.Peer) {
			st, err := p.WaitState(wctx, dead)
			if err == nil {
				first <- seen{p, st}
			}
		}(p)
	}
	select {
	case s := <-first:
		r.res.Detection = time.Since(w.from)
		r.res.Detected = true
		r.event(EvDetected, fmt.Sprintf("peer %s %s %v after the disruption", s.p.Name(), s.st, r.res.Detection.Round(time.Millisecond)))
		return nil
	case <-wctx.Done():
		return w.expired("no peer connection disconnected")
	}
}

type waitRecoveredAction struct{ timeout Duration }

func (waitRecoveredAction) name() string { return "wait_recovered" }

// probeRetry is how long wait_recovered waits after a probe could not be
// sent at all (the data channel is not writable yet) before it tries again.
const probeRetry = 100 * time.Millisecond

// run blocks until both peer connections are connected again (an ICE
// restart takes them through "connecting") and a probe makes the round
// trip.
func (a waitRecoveredAction) run(ctx context.Context, r *runner) error {
	w, wctx, cancel, err := r.startWait(ctx, a.timeout)
	if err != nil {
		return err
	}
	defer cancel()
	const none = "no probe echoed"
	connected := func(s webrtc.PeerConnectionState) bool { return s == webrtc.PeerConnectionStateConnected }
	for {
		for _, p := range []*call.Peer{r.c.A, r.c.B} {
			if _, err := p.WaitState(wctx, connected); err != nil {
				return w.expired(none)
			}
		}
		s, err := r.c.A.Probe(wctx, call.ProbeConfig{Count: 1, Grace: 250 * time.Millisecond})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && s.Received == 1 {
			r.res.Recovery = time.Since(w.from)
			r.res.Recovered = true
			r.event(EvRecovered, fmt.Sprintf("probe echoed %v after the disruption", r.res.Recovery.Round(time.Millisecond)))
			return nil
		}
		if err != nil {
			_ = sleepCtx(wctx, probeRetry) // its end is checked next
		}
		if wctx.Err() != nil {
			return w.expired(none)
		}
	}
}

type hangUpAction struct{}

func (hangUpAction) name() string { return "hangup" }
func (hangUpAction) run(_ context.Context, r *runner) error {
	r.c.HangUp()
	return nil
}
