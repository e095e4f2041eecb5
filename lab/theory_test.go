package lab_test

import (
	"slices"
	"testing"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/scenarios"
)

// TestExpectAgreesWithVNetTheory: on the presets both backends model, the
// kernel theory is DESIGN.md's table, cell by cell.
func TestExpectAgreesWithVNetTheory(t *testing.T) {
	for _, turn := range []bool{false, true} {
		for _, a := range lab.ClassicPresetNames() {
			for _, b := range lab.ClassicPresetNames() {
				ok, path, err := scenarios.Theory(a, b, turn)
				if err != nil {
					t.Fatal(err)
				}
				want := lab.PathFailed
				if ok {
					want = path
				}
				got, err := lab.Expect(a, b, turn)
				if err != nil || !slices.Equal(got, []string{want}) {
					t.Errorf("%s → %s turn %v: kernel theory %v (%v), vnet theory %s", a, b, turn, got, err, want)
				}
			}
		}
	}
}

func TestExpectKernelPresets(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		turn bool
		want []string
	}{
		{"linux-masquerade", "linux-masquerade", false, []string{"failed"}},
		{"linux-masquerade", "linux-masquerade", true, []string{"relay"}},
		{"linux-masquerade", "port-restricted-cone", false, []string{"direct", "failed"}},
		{"cgnat", "linux-masquerade", true, []string{"direct", "relay"}},
		{"linux-masquerade", "full-cone", false, []string{"direct"}},
		{"linux-masquerade", "symmetric", false, []string{"failed"}},
		{"udp-blocked", "open", false, []string{"failed"}},
		{"open", "udp-blocked", true, []string{"relay"}},
		{"random-port", "restricted-cone", false, []string{"direct"}},
		{"random-port", "cgnat", false, []string{"failed"}},
		{"full-cone-hairpin", "symmetric", false, []string{"direct"}},
		// IPv6: global addresses behind firewalls connect directly, even
		// where the IPv4 NATs could not; an IPv6-only side and an
		// IPv4-only side only through the relay.
		{"dual-stack", "dual-stack", false, []string{"direct"}},
		{"ipv6-only-nat64", "dual-stack", false, []string{"direct"}},
		{"ipv6-only-nat64", "ipv6-only-nat64", false, []string{"direct"}},
		{"ipv6-only-nat64", "port-restricted-cone", false, []string{"failed"}},
		{"open", "ipv6-only-nat64", true, []string{"relay"}},
		{"ipv6-only-nat64", "udp-blocked", true, []string{"relay"}},
		{"dual-stack", "symmetric", false, []string{"failed"}},
		{"dual-stack", "full-cone", false, []string{"direct"}},
	} {
		got, err := lab.Expect(tc.a, tc.b, tc.turn)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s → %s turn %v: %v (%v), want %v", tc.a, tc.b, tc.turn, got, err, tc.want)
		}
	}
	if _, err := lab.Expect("open", "nope", false); err == nil {
		t.Error("unknown preset: no error")
	}
}

func TestExpectRelayProtocol(t *testing.T) {
	all := []string{lab.RelayOverUDP, lab.RelayOverTCP, lab.RelayOverTLS}
	for _, tc := range []struct {
		side string
		want []string
	}{
		{"ipv6-only-nat64", all},
		{"udp-blocked", all[1:]},
		{"symmetric", all},
	} {
		got, err := lab.ExpectRelayProtocol(tc.side, all)
		if err != nil || !slices.Equal(tc.want, got) {
			t.Errorf("%s: %v (%v), want %v", tc.side, got, err, tc.want)
		}
	}
	if got, err := lab.ExpectRelayProtocol("udp-blocked", []string{lab.RelayOverUDP, lab.RelayOverDTLS}); err != nil || len(got) != 0 {
		t.Errorf("udp-blocked offered UDP and DTLS: %v (%v), want none", got, err)
	}
	if got, err := lab.ExpectRelayProtocol("symmetric", []string{lab.RelayOverDTLS}); err != nil || !slices.Equal(got, []string{lab.RelayOverDTLS}) {
		t.Errorf("symmetric offered DTLS: %v (%v), want dtls", got, err)
	}
	if _, err := lab.ExpectRelayProtocol("nope", all); err == nil {
		t.Error("unknown preset: no error")
	}
}

// ICE-TCP: pion gathers host TCP candidates only, so a direct TCP path
// needs a public passive side and a dialling (active) side whose network
// lets TCP to that port out.
func TestExpectICETCP(t *testing.T) {
	active := lab.ICETCP{On: true, Port: 443, ActiveA: true}
	for _, tc := range []struct {
		a, b string
		turn bool
		tcp  lab.ICETCP
		want []string
	}{
		{"udp-blocked", "open", false, active, []string{"direct"}},
		{"udp-blocked", "open", true, active, []string{"direct"}},
		// A port the firewall does not let out, or no active side.
		{"udp-blocked", "open", false, lab.ICETCP{On: true, Port: 8443, ActiveA: true}, []string{"failed"}},
		{"udp-blocked", "open", false, lab.ICETCP{On: true}, []string{"failed"}},
		{"udp-blocked", "open", false, lab.ICETCP{On: true, Port: 443, ActiveB: true}, []string{"failed"}},
		// Both behind NAT: no reflexive TCP candidates, no TCP path.
		{"udp-blocked", "full-cone", false, active, []string{"failed"}},
		{"udp-blocked", "port-restricted-cone", true, active, []string{"relay"}},
		// The public side may dial too.
		{"open", "symmetric", false, lab.ICETCP{On: true, ActiveB: true}, []string{"direct"}},
		// Off, it is Expect.
		{"udp-blocked", "open", false, lab.ICETCP{Port: 443, ActiveA: true}, []string{"failed"}},
	} {
		got, err := lab.ExpectWithICETCP(tc.a, tc.b, tc.turn, tc.tcp)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s → %s turn %v %+v: %v (%v), want %v", tc.a, tc.b, tc.turn, tc.tcp, got, err, tc.want)
		}
	}
}
