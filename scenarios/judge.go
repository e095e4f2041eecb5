package scenarios

import (
	"fmt"
	"strings"
	"time"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/vnet"
)

// judge compares what happened with the scenario's expectations, and
// explains failures.
func (r *runner) judge() {
	res, e, cr := r.res, r.spec.Expect, r.res.Call
	add := func(id, name string, pass bool, expected, observed, msg string) {
		res.Checks = append(res.Checks, Check{ID: id, Name: name, Pass: pass, Expected: expected, Observed: observed, Message: msg})
	}
	connectedText := "not connected"
	if cr.Connected {
		connectedText = "connected in " + cr.TimeToConnected.Round(time.Millisecond).String()
	}
	if e.Connected != nil {
		want := "connected"
		if !*e.Connected {
			want = "not connected"
		}
		msg := ""
		if cr.Connected != *e.Connected && cr.Error != "" {
			msg = cr.Error
		}
		add("connected", "the call connects", cr.Connected == *e.Connected, want, connectedText, msg)
	}
	if e.Path != "" && e.Path != "any" {
		ok := cr.Connected && ((e.Path == "direct" && cr.Path.Direct()) || (e.Path == "relay" && cr.Path.Class == call.PathRelay))
		add("path", "the media path", ok, e.Path, cr.Path.Describe(), "")
	}
	if e.Family != "" {
		got := cr.Path.Family()
		obs := got
		if p := cr.Path.Pair; p != nil {
			obs += " (" + p.Local.Address + " ↔ " + p.Remote.Address + ")"
		}
		add("family", "the selected pair's address family", cr.Connected && strings.EqualFold(got, e.Family), e.Family, obs, "")
	}
	if e.RelayProtocol != "" {
		obs, got := "a's side of the selected pair is not a relay candidate", ""
		if p := cr.Path.Pair; p != nil && p.Local.Type == "relay" {
			got = p.Local.RelayProtocol
			obs = "relayed over " + turnOver(got) + " (a's relay candidate " + p.Local.Address + ")"
		}
		if !cr.Connected {
			obs = connectedText
		}
		add("relay_protocol", "the transport to the TURN relay", cr.Connected && got == e.RelayProtocol, "relayed over "+turnOver(e.RelayProtocol), obs, "")
	}
	if e.Protocol != "" {
		obs, got := "no pair selected", ""
		if p := cr.Path.Pair; p != nil {
			got = p.Local.Protocol
			obs = fmt.Sprintf("%s (%s ↔ %s)", got, pairEnd(p.Local), pairEnd(p.Remote))
		}
		if !cr.Connected {
			obs = connectedText
		}
		add("protocol", "the selected pair's transport", cr.Connected && got == e.Protocol, e.Protocol, obs, "")
	}
	if e.Within > 0 {
		ok := cr.Connected && cr.TimeToConnected <= e.Within.D()
		add("within", "time to connected", ok, "≤ "+e.Within.D().String(), connectedText, "")
	}
	if e.Delivered != nil {
		obs := "no messages sent"
		ok := false
		if cr.Messages.Sent > 0 {
			pct := 100 * float64(cr.Messages.Received) / float64(cr.Messages.Sent)
			obs = fmt.Sprintf("%.1f%% (%d of %d echoed)", pct, cr.Messages.Received, cr.Messages.Sent)
			ok = pct >= *e.Delivered
		}
		add("delivered", "probe messages delivered", ok, fmt.Sprintf("≥ %g%%", *e.Delivered), obs, "")
	}
	if e.AudioDelivered != nil {
		obs := "no audio sent"
		ok := false
		if cr.Audio != nil && cr.Audio.Sent > 0 {
			pct := 100 * float64(cr.Audio.Received) / float64(cr.Audio.Sent)
			obs = fmt.Sprintf("%.1f%% (%d of %d RTP packets)", pct, cr.Audio.Received, cr.Audio.Sent)
			ok = pct >= *e.AudioDelivered
		}
		add("audio", "audio packets delivered", ok, fmt.Sprintf("≥ %g%%", *e.AudioDelivered), obs, "")
	}
	if e.RecoversWithin > 0 {
		obs := "did not recover"
		if res.Recovered {
			obs = "recovered in " + res.Recovery.Round(time.Millisecond).String()
		}
		add("recovers", "recovery after the disruption", res.Recovered && res.Recovery <= e.RecoversWithin.D(), "≤ "+e.RecoversWithin.D().String(), obs, "")
	}
	if e.DetectedWithin > 0 {
		obs := "no peer connection reported disconnected"
		if res.Detected {
			obs = "disconnected after " + res.Detection.Round(time.Millisecond).String()
		}
		add("detected", "the dead path is detected (disconnected)", res.Detected && res.Detection <= e.DetectedWithin.D(), "≤ "+e.DetectedWithin.D().String(), obs, "")
	}
	if e.Rebound != "" {
		mcs := res.MappingChanges[e.Rebound]
		obs := "no mapping changed: every packet left from the external port it used before"
		if len(mcs) > 0 {
			obs = fmt.Sprintf("%d flow(s) moved, e.g. %s → %s from %s to %s", len(mcs), mcs[0].Local, mcs[0].Remote, mcs[0].Old, mcs[0].New)
		}
		add("rebound", "side "+e.Rebound+"'s NAT rebinds the call to a new external port", len(mcs) > 0,
			"packets to the same destination from a new external port", obs, "")
	}
	bySide := map[string][]vnet.AuthFailure{}
	for _, f := range res.AuthFailures {
		bySide[f.Side] = append(bySide[f.Side], f)
	}
	if e.AuthFailure != "" {
		obs := "no 401 from the relay"
		if fs := bySide[e.AuthFailure]; len(fs) > 0 {
			obs = fmt.Sprintf("%d request(s) answered 401 (%s)", len(fs), fs[0].Reason)
		}
		add("auth-failure", "the relay refuses side "+e.AuthFailure+"'s credentials", len(bySide[e.AuthFailure]) > 0, "401 Unauthorized for side "+e.AuthFailure, obs, "")
	}
	for _, side := range []string{"a", "b"} {
		if fs := bySide[side]; len(fs) > 0 {
			hasRelay := false
			for _, c := range cr.Candidates[side] {
				if c.Type == "relay" {
					hasRelay = true
				}
			}
			d := fmt.Sprintf("side %s: the relay answered 401 Unauthorized (%s) to %d TURN request(s) with username %q from %s: the credentials are wrong or expired",
				side, strings.ReplaceAll(fs[0].Reason, "_", " "), len(fs), fs[0].Username, fs[0].Source)
			if !hasRelay {
				d += fmt.Sprintf(", so side %s has no relay candidate", side)
			}
			res.Diagnoses = append(res.Diagnoses, d+". Check the username and password (or the shared secret that mints them).")
		}
		if d := res.Drops[side]; d.Firewall > 0 {
			res.Diagnoses = append(res.Diagnoses, fmt.Sprintf("side %s: the firewall dropped %d UDP packets that were not for the relay", side, d.Firewall))
		}
	}
	if !cr.Connected && len(res.AuthFailures) == 0 {
		if d := cr.Diagnosis(); d != "" {
			res.Diagnoses = append(res.Diagnoses, d)
		}
	}
	if !cr.Connected && r.connectErr != nil && cr.Cause.Completed() {
		res.Diagnoses = append(res.Diagnoses, "no connection: "+r.connectErr.Error())
	}
	if !cr.Cause.Completed() {
		// A call cut short or never started says nothing about the
		// expectations: none is compared.
		for i := range res.Checks {
			res.Checks[i].Pass, res.Checks[i].NotJudged = false, cr.Cause
			res.Checks[i].Observed, res.Checks[i].Message = string(cr.Cause), ""
		}
	}
}

// turnOver names a relay protocol the way users say it: "TURN/TCP".
func turnOver(protocol string) string {
	if protocol == "" {
		return "TURN (transport not reported)"
	}
	return "TURN/" + strings.ToUpper(protocol)
}

// pairEnd names one end of the selected pair: its type, its ICE-TCP role
// if it has one, and its address.
func pairEnd(c call.Candidate) string {
	if c.TCPType != "" {
		return c.Type + " " + c.TCPType + " " + c.Address
	}
	return c.Type + " " + c.Address
}
