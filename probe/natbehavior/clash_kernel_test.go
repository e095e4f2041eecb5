package natbehavior_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/natbehavior"
)

// TestClashOnKernelNAT runs the peer-first test behind real Linux routers:
// plain masquerade must show the clash (and say so in its call advice),
// the same masquerade behind an input-drop firewall must not.
func TestClashOnKernelNAT(t *testing.T) {
	labtest.Require(t)
	for _, tc := range []struct {
		preset string
		clash  bool
	}{
		{"linux-masquerade", true},
		{"port-restricted-cone", false},
		{"restricted-cone", false},
		{"full-cone", false},
		{"cgnat", false},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			t.Parallel()
			top := labtest.Build(t, lab.Config{A: lab.Side{Preset: tc.preset}})
			n, err := top.Net(lab.SideA)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := natbehavior.Run(ctx, natbehavior.Config{Net: n, Server: lab.RelayIP,
				Retransmit: natbehavior.Retransmit{RTO: 100 * time.Millisecond, Budget: time.Second}})
			if err != nil {
				t.Fatalf("nat probe: %v", err)
			}
			if res.Clash == nil {
				t.Fatalf("no clash result (mapping %s); notes %v", res.Mapping, res.Notes)
			}
			if res.Clash.Changes != tc.clash {
				t.Errorf("clash %v, want %v: %+v", res.Clash.Changes, tc.clash, res.Clash)
			}
			if got := slices.Contains(res.Implications, natbehavior.ClashAdvice); got != tc.clash {
				t.Errorf("clash advice given %v, want %v: %q", got, tc.clash, res.Implications)
			}
			if tc.clash {
				ct, err := top.Conntrack(lab.SideA)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("router conntrack after the clash test:\n%s", ct)
			}
		})
	}
}
