package lab_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/call"
)

// Calls between IPv6 sides, as the matrix places them, against the
// theory, with the family of the selected pair.
func TestIPv6CallsMatchTheory(t *testing.T) {
	labtest.Require(t)
	for _, tc := range []struct {
		a, b   string
		turn   bool
		family string // of the selected pair's local candidate; "" when it fails
	}{
		{"dual-stack", "dual-stack", false, "IPv6"},
		{"ipv6-only-nat64", "dual-stack", false, "IPv6"},
		{"ipv6-only-nat64", "port-restricted-cone", false, ""},
		{"ipv6-only-nat64", "port-restricted-cone", true, "IPv4"},
	} {
		name := tc.a + "→" + tc.b
		if tc.turn {
			name += "+turn"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			top := labtest.Build(t, lab.Config{A: lab.Side{Preset: tc.a}, B: lab.Side{Preset: tc.b}})
			want, err := lab.Expect(tc.a, tc.b, tc.turn)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := matrixCall(ctx, top, tc.turn, false)
			got := observed(r)
			if !slices.Contains(want, got) {
				t.Fatalf("observed %s, theory %s (err %v)", got, strings.Join(want, " or "), err)
			}
			if tc.family == "" {
				return
			}
			if r.Path.Pair == nil {
				t.Fatalf("no selected pair: %+v", r.Path)
			}
			if f := r.Path.Family(); f != tc.family {
				t.Errorf("selected pair %s ↔ %s is %s, want %s", r.Path.Pair.Local, r.Path.Pair.Remote, f, tc.family)
			}
			if got == lab.PathRelay {
				if st, ok := top.NAT64Stats(lab.SideA); !ok || st.To4 == 0 || st.To6 == 0 {
					t.Errorf("the relayed call did not go through the NAT64: %+v", st)
				}
			}
			t.Logf("%s: %s ↔ %s", got, r.Path.Pair.Local, r.Path.Pair.Remote)
		})
	}
}

// An IPv6-only side given its TURN server as an IPv4 literal (STUN by
// name) gathers no relay candidate: pion sends nothing it can route. The
// call fails although b's relay works, and the cause names a's relay and
// the literal, not the relayed pairs.
func TestIPv4LiteralTURNOnIPv6OnlySide(t *testing.T) {
	labtest.Require(t)
	top := labtest.Build(t, lab.Config{A: lab.Side{Preset: "ipv6-only-nat64"}, B: lab.Side{Preset: "symmetric"}})
	na, _ := top.Net(lab.SideA)
	nb, _ := top.Net(lab.SideB)
	turn := func(url string) webrtc.ICEServer {
		return webrtc.ICEServer{URLs: []string{url}, Username: "natkit", Credential: "natkit"}
	}
	ice := call.FastICE()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := call.Run(ctx, call.Config{
		A:              call.PeerConfig{Name: "a", Net: na, ICE: &ice, GatherTimeout: 2 * time.Second, ICEServers: []webrtc.ICEServer{{URLs: []string{top.STUNURLFor(lab.SideA)}}, turn(top.TURNURL())}},
		B:              call.PeerConfig{Name: "b", Net: nb, ICE: &ice, GatherTimeout: 2 * time.Second, ICEServers: []webrtc.ICEServer{{URLs: []string{top.STUNURL()}}, turn(top.TURNURL())}},
		ConnectTimeout: 8 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Connected {
		t.Fatalf("connected (%s), want a failed call", r.Path.Describe())
	}
	if r.Cause != call.CauseRelayNotGathered || !slices.Equal(r.RelayNotGathered, []string{"a"}) {
		t.Fatalf("cause %s, relay not gathered by %v; want relay-not-gathered by a: %s", r.Cause, r.RelayNotGathered, r.Diagnosis())
	}
	if d := r.Diagnosis(); !strings.Contains(d, "IPv4 literals ("+lab.RelayIP+")") {
		t.Errorf("the diagnosis does not name the IPv4 literal: %s", d)
	}
	t.Log(r.Diagnosis())
}
