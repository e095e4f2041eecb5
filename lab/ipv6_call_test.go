package lab_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
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
