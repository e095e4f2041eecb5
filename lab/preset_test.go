package lab_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/natbehavior"
)

// natProbe runs natkit nat's library from side a's host against the relay.
func natProbe(t *testing.T, top *lab.Topology) (*natbehavior.Result, error) {
	t.Helper()
	n, err := top.Net(lab.SideA)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server := top.STUNURL()[len("stun:"):]
	if top.HostIP(lab.SideA) == nil {
		// IPv6 only: the relay's synthesized address (natkit nat resolves
		// a name to its A record, as Go does).
		server = "[" + lab.Synthesize(netip.MustParseAddr(lab.RelayIP)).String() + "]:3478"
	}
	return natbehavior.Run(ctx, natbehavior.Config{
		Net: n, Server: server, Hairpin: true,
		Retransmit: natbehavior.Retransmit{RTO: 100 * time.Millisecond, Budget: time.Second},
	})
}

// TestPresetsClassified runs natkit nat through every kernel preset: what it
// finds must be exactly the preset's declared behaviour.
func TestPresetsClassified(t *testing.T) {
	labtest.Require(t)
	for _, p := range lab.Presets() {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			top := labtest.Build(t, lab.Config{A: lab.Side{Preset: p.Name}})
			res, err := natProbe(t, top)
			if p.UDPBlocked {
				if !errors.Is(err, natbehavior.ErrNoAnswer) {
					t.Fatalf("udp-blocked: want no answer over UDP, got %v (%+v)", err, res)
				}
				return
			}
			if err != nil {
				t.Fatalf("nat probe: %v\n%+v", err, res)
			}
			wantM, wantF := natbehavior.Mapping(p.Mapping), natbehavior.Filtering(p.Filtering)
			if p.NoNAT {
				wantM, wantF = natbehavior.MappingNoNAT, natbehavior.FilteringEIF
			}
			if p.NAT64 {
				// The server's OTHER-ADDRESS is IPv4, which an IPv6-only
				// host cannot reach (natkit nat does not synthesize it),
				// so the mapping test cannot run: reality, documented in
				// docs/lab.md. TestNAT64RealExchange and the translator's
				// unit tests check its endpoint-independent mapping.
				wantM = natbehavior.MappingUnknown
			}
			if res.Mapping != wantM || res.Filtering != wantF {
				t.Errorf("%s: natkit nat found %s/%s, want %s/%s; notes %v; tests %+v", p.Name, res.Mapping, res.Filtering, wantM, wantF, res.Notes, res.Tests)
			}
			if !p.NoNAT && res.PortPreserved != p.PortPreserving {
				t.Errorf("%s: port preserved %v, want %v (public %s, local %s)", p.Name, res.PortPreserved, p.PortPreserving, res.Public, res.Local)
			}
			if clash := res.Clash != nil && res.Clash.Changes; clash != p.Clash {
				t.Errorf("%s: natkit nat's clash test says %v, want %v: %+v", p.Name, clash, p.Clash, res.Clash)
			}
			if !p.NoNAT && res.Hairpin != nil && res.Hairpin.Supported != p.Hairpin {
				t.Errorf("%s: hairpin %v, want %v (%s)", p.Name, res.Hairpin.Supported, p.Hairpin, res.Hairpin.Note)
			}
		})
	}
}
