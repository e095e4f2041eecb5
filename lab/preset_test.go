package lab_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
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
			if p.NAT64 && res.NAT64Prefix != lab.NAT64Prefix.String() {
				// The server's OTHER-ADDRESS is IPv4: natkit nat reaches it
				// through the prefix its answer shows, the lab's NAT64's.
				t.Errorf("%s: NAT64 prefix %q, want %s; notes %v", p.Name, res.NAT64Prefix, lab.NAT64Prefix, res.Notes)
			}
			if p.NAT64 {
				nat64Mapping(t, res)
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

// nat64Mapping: through the NAT64, natkit nat's mapping tests went to the
// relay's alternate address synthesized in the prefix, were answered
// through the translator, and saw the one pool address and port the
// translator's endpoint-independent binding gives the socket.
func nat64Mapping(t *testing.T, res *natbehavior.Result) {
	t.Helper()
	alt := "[" + lab.Synthesize(netip.MustParseAddr(lab.RelayAlt)).String() + "]:3478"
	seen := map[string]string{}
	for _, tc := range res.Tests {
		if tc.Answered {
			seen[tc.Name] = tc.To + " → " + tc.Mapped
		}
	}
	want := alt + " → " + res.Public
	if seen["mapping II"] != want {
		t.Errorf("mapping II: %q, want %q (tests %+v)", seen["mapping II"], want, res.Tests)
	}
	if !strings.HasPrefix(res.Public, nat64PoolA) {
		t.Errorf("public %s: want the pool address %s", res.Public, nat64PoolA)
	}
	if res.Clash == nil || res.Clash.After == "" || res.Clash.After != res.Clash.Before || res.Clash.PeerPacketArrived {
		t.Errorf("clash test through the NAT64: %+v; want the mapping kept and the alternate's first packet filtered", res.Clash)
	}
}

// nat64PoolA is side a's NAT64 pool address, as a host:port prefix.
const nat64PoolA = "203.0.113.11:"
