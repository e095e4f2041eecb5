package natbehavior

import (
	"context"
	"errors"
	"testing"
	"time"

	"net"

	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/vnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natkit/natkit/internal/vnettest"
	"github.com/natkit/natkit/relay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startRelay runs natkit's relay in the vnet as the STUN server on ip:3478;
// with altIP it is an RFC 5780 server (alternate port 3479).
func startRelay(t *testing.T, n transport.Net, ip, altIP string) {
	t.Helper()
	cfg := relay.Config{Net: n, Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: ip + ":3478"}}, Users: map[string]string{"u": "p"}}
	if altIP != "" {
		cfg.AltIP = net.ParseIP(altIP)
	}
	srv, err := relay.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
}

// fastRetransmit keeps vnet runs short; vnet has no loss, so an answer
// comes within one RTO or never.
var fastRetransmit = Retransmit{RTO: 50 * time.Millisecond, Budget: 300 * time.Millisecond}

var deps = map[string]vnet.EndpointDependencyType{
	"EI": vnet.EndpointIndependent, "AD": vnet.EndpointAddrDependent, "APD": vnet.EndpointAddrPortDependent,
}

func TestClassifyVNet(t *testing.T) {
	type tc struct {
		name      string
		nat       *vnet.NATType
		mapping   Mapping
		filtering Filtering
		classic   string
	}
	var tests []tc
	mapNames := map[string]Mapping{"EI": MappingEIM, "AD": MappingADM, "APD": MappingAPDM}
	filtNames := map[string]Filtering{"EI": FilteringEIF, "AD": FilteringADF, "APD": FilteringAPDF}
	for _, m := range []string{"EI", "AD", "APD"} {
		for _, f := range []string{"EI", "AD", "APD"} {
			tests = append(tests, tc{
				name:      string(mapNames[m]) + "+" + string(filtNames[f]),
				nat:       &vnet.NATType{MappingBehavior: deps[m], FilteringBehavior: deps[f]},
				mapping:   mapNames[m],
				filtering: filtNames[f],
				classic:   Classic(true, mapNames[m], filtNames[f]),
			})
		}
	}
	tests = append(tests,
		tc{name: "1:1 NAT", nat: &vnet.NATType{Mode: vnet.NATModeNAT1To1}, mapping: MappingEIM, filtering: FilteringEIF, classic: "full cone"},
		tc{name: "no NAT", nat: nil, mapping: MappingNoNAT, filtering: FilteringEIF, classic: "open internet"},
	)
	// The classic names of the presets in DESIGN.md.
	want := map[string]string{"EIM+EIF": "full cone", "EIM+ADF": "restricted cone", "EIM+APDF": "port restricted cone", "APDM+APDF": "symmetric"}
	for _, tt := range tests {
		if w, ok := want[tt.name]; ok {
			require.Equal(t, w, tt.classic, tt.name)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := vnettest.ClientServer(t, tt.nat)
			startRelay(t, tp.Server, "1.2.3.4", "1.2.3.5")
			res, err := Run(context.Background(), Config{Net: tp.Client, Server: "1.2.3.4:3478", Retransmit: fastRetransmit, Hairpin: true})
			require.NoError(t, err)
			assert.Equal(t, tt.mapping, res.Mapping, "mapping; notes %v", res.Notes)
			assert.Equal(t, tt.filtering, res.Filtering, "filtering; notes %v", res.Notes)
			assert.Equal(t, tt.classic, res.Classic)
			assert.Equal(t, tt.nat != nil, res.NAT)
			assert.True(t, res.RFC5780)
			assert.Equal(t, "1.2.3.5:3479", res.OtherAddress)
			assert.NotEmpty(t, res.Implications)
			require.NotNil(t, res.Hairpin)
			if tt.nat == nil {
				assert.Equal(t, "1.2.3.10", hostOf(res.Public))
				assert.True(t, res.Hairpin.Supported)
			} else {
				assert.Equal(t, "1.2.3.20", hostOf(res.Public))
				// vnet has no hairpin logic of its own: the packet leaves
				// the NAT, the WAN router sends it back, and it gets in
				// only when the NAT filters endpoint-independently (the
				// sender is the NAT's own public address, another port).
				assert.Equal(t, tt.filtering == FilteringEIF, res.Hairpin.Supported)
			}
			// 1:1 NAT and no NAT preserve ports; vnet's NAPT never does.
			assert.Equal(t, tt.nat == nil || tt.nat.Mode == vnet.NATModeNAT1To1, res.PortPreserved)
		})
	}
}

func hostOf(hp string) string {
	for i := len(hp) - 1; i >= 0; i-- {
		if hp[i] == ':' {
			return hp[:i]
		}
	}
	return hp
}

func TestNoOtherAddress(t *testing.T) {
	tests := []struct {
		name    string
		nat     *vnet.NATType
		alt     bool
		mapping Mapping
	}{
		{name: "EIM with alt server", nat: &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent}, alt: true, mapping: MappingEIM},
		{name: "APDM with alt server", nat: &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}, alt: true, mapping: MappingDependent},
		{name: "no alt server", nat: &vnet.NATType{MappingBehavior: vnet.EndpointIndependent}, mapping: MappingUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := vnettest.ClientServer(t, tt.nat)
			// Two independent relays without RFC 5780: 1.2.3.4:3478 and
			// 1.2.3.5:3478.
			startRelay(t, tp.Server, "1.2.3.4", "")
			startRelay(t, tp.Server, "1.2.3.5", "")
			cfg := Config{Net: tp.Client, Server: "1.2.3.4:3478", Retransmit: fastRetransmit}
			if tt.alt {
				cfg.AltServer = "1.2.3.5:3478"
			}
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			assert.False(t, res.RFC5780)
			assert.Equal(t, tt.mapping, res.Mapping)
			assert.Equal(t, FilteringUnknown, res.Filtering, "filtering is never guessed")
			assert.Contains(t, joinNotes(res.Notes), "filtering not determined")
			assert.NotContains(t, res.Classic, "full cone")
		})
	}
}

func joinNotes(n []string) string {
	s := ""
	for _, x := range n {
		s += x + "\n"
	}
	return s
}

func TestLifetimeVNet(t *testing.T) {
	if testing.Short() {
		t.Skip("lifetime discovery waits for mappings to expire")
	}
	tp := vnettest.ClientServer(t, &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent, MappingLifeTime: 1200 * time.Millisecond})
	startRelay(t, tp.Server, "1.2.3.4", "1.2.3.5")
	res, err := Run(context.Background(), Config{Net: tp.Client, Server: "1.2.3.4:3478", Retransmit: fastRetransmit, Lifetime: true, LifetimeMax: 3 * time.Second})
	require.NoError(t, err)
	require.NotNil(t, res.Lifetime)
	l := res.Lifetime
	assert.Empty(t, l.Note)
	// Probes at 50ms, 100ms, 250ms, 500ms, 750ms, 1.5s, 2.25s, 3s: the
	// 1.2s lifetime lies between 750ms and 1.5s.
	assert.Equal(t, 750*time.Millisecond, l.Alive, "%+v", l.Probes)
	assert.Equal(t, 1500*time.Millisecond, l.Expired, "%+v", l.Probes)
	assert.Equal(t, "between 750ms and 1.5s", l.Range())
}

func TestErrors(t *testing.T) {
	tp := vnettest.ClientServer(t, nil)
	tests := []struct {
		name    string
		cfg     Config
		wantErr error
		substr  string
	}{
		{name: "no server", cfg: Config{}, wantErr: ErrConfig, substr: "server: is required"},
		{name: "bad server", cfg: Config{Server: "a:b:c"}, wantErr: ErrConfig, substr: `server "a:b:c"`},
		{name: "bad port", cfg: Config{Server: "1.2.3.4:0"}, wantErr: ErrConfig},
		{name: "bad local", cfg: Config{Server: "1.2.3.4", Local: "nope"}, wantErr: ErrConfig, substr: `local "nope"`},
		{name: "ipv6 local", cfg: Config{Server: "1.2.3.4", Local: "[::1]:0"}, wantErr: ErrConfig, substr: `local "[::1]:0": the server 1.2.3.4:3478 is IPv4`},
		{name: "ipv4 local, ipv6 server", cfg: Config{Server: "[::1]:3478", Local: "127.0.0.1:0"}, wantErr: ErrConfig, substr: `is IPv6: use a local address of that family, e.g. [::]:0`},
		{name: "ipv6 without brackets", cfg: Config{Server: "2001:db8::1"}, wantErr: ErrConfig, substr: `server "2001:db8::1": an IPv6 address must be in brackets`},
		{name: "ipv6 alt without brackets", cfg: Config{Server: "[::1]", AltServer: "::1:3478"}, wantErr: ErrConfig, substr: `alt-server "::1:3478": an IPv6 address must be in brackets`},
		{name: "bad alt", cfg: Config{Server: "1.2.3.4", AltServer: "x:99999"}, wantErr: ErrConfig, substr: "alt-server"},
		{name: "silent server", cfg: Config{Net: tp.Client, Server: "1.2.3.4:3478", Retransmit: fastRetransmit}, wantErr: ErrNoAnswer, substr: "no answer to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			require.Error(t, err)
			assert.True(t, errors.Is(err, tt.wantErr), "%v", err)
			assert.Contains(t, err.Error(), tt.substr)
		})
	}
}

func TestCancel(t *testing.T) {
	tp := vnettest.ClientServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, Config{Net: tp.Client, Server: "1.2.3.4:3478"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestLifetimeSchedule(t *testing.T) {
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second, 45 * time.Second, 60 * time.Second}, LifetimeSchedule(time.Minute))
}

func TestClassicAndImplications(t *testing.T) {
	tests := []struct {
		nat     bool
		m       Mapping
		f       Filtering
		classic string
		implies string
	}{
		{false, MappingNoNAT, FilteringEIF, "open internet", "reachable directly"},
		{false, MappingNoNAT, FilteringAPDF, "symmetric UDP firewall", "symmetric NAT will need TURN"},
		{true, MappingEIM, FilteringEIF, "full cone", "every peer type"},
		{true, MappingEIM, FilteringADF, "restricted cone", "address only"},
		{true, MappingEIM, FilteringAPDF, "port restricted cone", "a peer behind a symmetric NAT will need TURN to reach you"},
		{true, MappingAPDM, FilteringAPDF, "symmetric", "a peer behind a port-restricted cone or symmetric NAT will need TURN to reach you"},
		{true, MappingADM, FilteringEIF, "symmetric", "will need TURN"},
		{true, MappingEIM, FilteringUnknown, "cone (filtering not determined)", "filtering was not determined"},
		{true, MappingUnknown, FilteringUnknown, "not determined", "mapping was not determined"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.classic, Classic(tt.nat, tt.m, tt.f))
		assert.Contains(t, joinNotes(Implications(tt.nat, tt.m, tt.f)), tt.implies, "%v %v", tt.m, tt.f)
	}
}
