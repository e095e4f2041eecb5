package vnet

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// binding sends a STUN binding request from conn to server and returns the
// mapped address, or nil after a timeout.
func binding(t *testing.T, conn net.PacketConn, server string) *net.UDPAddr {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp4", server)
	require.NoError(t, err)
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	_, err = conn.WriteTo(req.Raw, to)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	buf := make([]byte, 1500)
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		return nil
	}
	m := &stun.Message{Raw: buf[:n]}
	require.NoError(t, m.Decode())
	var xor stun.XORMappedAddress
	require.NoError(t, xor.GetFrom(m))
	return &net.UDPAddr{IP: xor.IP, Port: xor.Port}
}

func listen(t *testing.T, n transport.Net) net.PacketConn {
	t.Helper()
	c, err := n.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestPresetMapping(t *testing.T) {
	tests := []struct {
		preset       string
		wantPublicIP string
		samePortAlt  bool // EIM: same mapping towards both relay addresses
		wantNATed    bool
	}{
		{"open", "203.0.113.10", true, false},
		{"full-cone", "203.0.113.10", true, true},
		{"restricted-cone", "203.0.113.10", true, true},
		{"port-restricted-cone", "203.0.113.10", true, true},
		{"symmetric", "203.0.113.10", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.preset, func(t *testing.T) {
			top, err := Build(Spec{A: Side{Preset: tt.preset}, B: Side{Preset: "open"}})
			require.NoError(t, err)
			defer top.Close()
			n, err := top.Net(SideA)
			require.NoError(t, err)
			c := listen(t, n)
			m1 := binding(t, c, "203.0.113.1:3478")
			m2 := binding(t, c, "203.0.113.2:3478")
			require.NotNil(t, m1)
			require.NotNil(t, m2)
			require.Equal(t, tt.wantPublicIP, m1.IP.String())
			require.Equal(t, tt.samePortAlt, m1.Port == m2.Port, "mapping %v vs %v", m1, m2)
			require.Equal(t, tt.wantNATed, !top.HostIP(SideA).Equal(top.PublicIP(SideA)))
		})
	}
}

func TestFirewallAndCut(t *testing.T) {
	top, err := Build(Spec{A: Side{Preset: "full-cone"}, B: Side{Preset: "open"}})
	require.NoError(t, err)
	defer top.Close()
	na, _ := top.Net(SideA)
	nb, _ := top.Net(SideB)
	ca, cb := listen(t, na), listen(t, nb)
	bAddr := &net.UDPAddr{IP: top.PublicIP(SideB), Port: cb.LocalAddr().(*net.UDPAddr).Port}

	send := func() bool {
		_, err := ca.WriteTo([]byte("x"), bAddr)
		require.NoError(t, err)
		require.NoError(t, cb.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		buf := make([]byte, 10)
		_, _, err = cb.ReadFrom(buf)
		return err == nil
	}
	require.True(t, send(), "a full-cone side reaches an open side")
	require.NoError(t, top.SetFirewall(SideA, true))
	require.False(t, send(), "firewall drops udp to anything but the relay")
	require.NotNil(t, binding(t, ca, "203.0.113.1:3478"), "firewall lets the relay through")
	require.Equal(t, 1, top.Drops(SideA).Firewall)
	require.NoError(t, top.SetFirewall(SideA, false))
	top.CutDirect(true)
	require.False(t, send(), "cut drops the direct path")
	require.Equal(t, 1, top.Drops(SideA).Cut)
	top.CutDirect(false)
	require.True(t, send())
}

func TestLossIsSeeded(t *testing.T) {
	run := func() int {
		top, err := Build(Spec{A: Side{Preset: "open", LossPercent: 30}, B: Side{Preset: "open"}, Seed: 42})
		require.NoError(t, err)
		defer top.Close()
		na, _ := top.Net(SideA)
		nb, _ := top.Net(SideB)
		ca, cb := listen(t, na), listen(t, nb)
		to := &net.UDPAddr{IP: top.PublicIP(SideB), Port: cb.LocalAddr().(*net.UDPAddr).Port}
		for i := 0; i < 200; i++ {
			_, err := ca.WriteTo([]byte{byte(i)}, to)
			require.NoError(t, err)
		}
		// Every packet is either received or counted as lost: wait for
		// the sum, not for time. A read gives up after a short while only
		// to look at the loss counter again (the last packets may be the
		// lost ones); the deadline bounds a broken run.
		received := 0
		buf := make([]byte, 16)
		deadline := time.Now().Add(10 * time.Second)
		for received+top.Drops(SideA).Loss < 200 {
			require.True(t, time.Now().Before(deadline), "received %d, lost %d of 200", received, top.Drops(SideA).Loss)
			require.NoError(t, cb.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
			if _, _, err := cb.ReadFrom(buf); err == nil {
				received++
			}
		}
		return top.Drops(SideA).Loss
	}
	first := run()
	require.InDelta(t, 60, first, 25, "about 30%% of 200")
	require.Equal(t, first, run(), "same seed, same losses")
}

func TestSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"unknown preset", Spec{A: Side{Preset: "cone"}}, `side a preset`},
		{"both", Spec{B: Side{Preset: "open", Mapping: "EIM", Filtering: "EIF"}}, "either a preset"},
		{"bad mapping", Spec{A: Side{Mapping: "EIF", Filtering: "EIF"}}, "side a mapping"},
		{"bad filtering", Spec{A: Side{Mapping: "EIM", Filtering: "XX"}}, "side a filtering"},
		{"loss", Spec{B: Side{LossPercent: 101}}, "side b loss"},
		{"latency", Spec{A: Side{Latency: -1}}, "latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.spec)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrConfig))
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestExpectDirect(t *testing.T) {
	direct := 0
	for _, a := range Presets() {
		for _, b := range Presets() {
			if ExpectDirect(a, b) {
				direct++
			}
		}
	}
	require.Equal(t, 22, direct, "25 pairs minus sym×prc, prc×sym, sym×sym")
}

func TestWhyNoDirectPathFollowsTheory(t *testing.T) {
	for _, a := range Presets() {
		for _, b := range Presets() {
			why := WhyNoDirectPath(a, b)
			if ExpectDirect(a, b) != (why == "") {
				t.Errorf("%s vs %s: ExpectDirect %v but explanation %q", a.Name, b.Name, ExpectDirect(a, b), why)
			}
		}
	}
	why := WhyNoDirectPath(Side{Preset: "port-restricted-cone"}.Behavior(), Side{Mapping: "APDM", Filtering: "EIF"}.Behavior())
	if !strings.Contains(why, "side b's NAT (custom (APDM/EIF)) gives every destination a new external port") {
		t.Errorf("explanation names the wrong side: %q", why)
	}
	if got := (Side{}).Behavior(); !got.NoNAT {
		t.Errorf("a side with nothing set is open, got %+v", got)
	}
}
