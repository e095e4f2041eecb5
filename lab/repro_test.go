package lab_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/call"
)

// stunCall places a natkit call with STUN only between the two sides.
func stunCall(t *testing.T, top *lab.Topology) *call.Result {
	t.Helper()
	ice := call.FastICE()
	peer := func(side string) call.PeerConfig {
		n, err := top.Net(side)
		if err != nil {
			t.Fatal(err)
		}
		return call.PeerConfig{Name: side, Net: n, ICE: &ice,
			ICEServers: []webrtc.ICEServer{{URLs: []string{top.STUNURL()}}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := call.Run(ctx, call.Config{A: peer(lab.SideA), B: peer(lab.SideB), ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	return res
}

// TestMasqueradeClashReproduction reproduces issue 11 on real kernels: two
// sides behind plain masquerade (no input firewall) cannot connect with
// STUN only, because each peer's first check is committed by the other
// router as an [UNREPLIED] entry to the router itself and the reply clashes
// with it; the same routers with an input-drop firewall connect directly.
func TestMasqueradeClashReproduction(t *testing.T) {
	labtest.Require(t)
	for _, tc := range []struct {
		preset  string
		connect bool
	}{
		{"linux-masquerade", false},
		{"port-restricted-cone", true},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			t.Parallel()
			top := labtest.Build(t, lab.Config{A: lab.Side{Preset: tc.preset}, B: lab.Side{Preset: tc.preset}})
			res := stunCall(t, top)
			direct := res.Connected && res.Path.Direct()
			for _, side := range []string{lab.SideA, lab.SideB} {
				ct, err := top.Conntrack(side)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("side %s router conntrack after the call:\n%s", side, ct)
				if !tc.connect && !strings.Contains(ct, "[UNREPLIED]") {
					t.Errorf("side %s: no [UNREPLIED] entry in the router's conntrack", side)
				}
			}
			if direct != tc.connect {
				t.Errorf("%s × %s with STUN only: connected directly %v, want %v (path %s, error %q)",
					tc.preset, tc.preset, direct, tc.connect, res.Path.Describe(), res.Error)
			}
		})
	}
}
