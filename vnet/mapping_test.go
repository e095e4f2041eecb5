package vnet

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRebindGivesNewExternalPort: a STUN binding through the topology's
// relay from one socket, before and after a rebind, shows a new external
// port; a silence shorter than the mapping lifetime keeps the old one.
func TestRebindGivesNewExternalPort(t *testing.T) {
	tests := []struct {
		name    string
		side    Side
		silence time.Duration // 0: Rebind
		newPort bool
	}{
		{"full-cone rebind", Side{Preset: "full-cone", MappingLifetime: 400 * time.Millisecond}, 0, true},
		{"port-restricted rebind", Side{Preset: "port-restricted-cone", MappingLifetime: 400 * time.Millisecond}, 0, true},
		{"symmetric rebind", Side{Preset: "symmetric", MappingLifetime: 400 * time.Millisecond}, 0, true},
		{"custom ADM rebind", Side{Mapping: "ADM", Filtering: "ADF", MappingLifetime: 400 * time.Millisecond}, 0, true},
		{"silence shorter than the lifetime", Side{Preset: "port-restricted-cone", MappingLifetime: 2 * time.Second}, 300 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			top, err := Build(Spec{A: tt.side})
			require.NoError(t, err)
			defer top.Close()
			n, err := top.Net(SideA)
			require.NoError(t, err)
			c := listen(t, n)
			server := "203.0.113.1:3478"
			before := binding(t, c, server)
			require.NotNil(t, before)
			require.Equal(t, before.String(), binding(t, c, server).String(), "the mapping holds while in use")
			if tt.silence == 0 {
				d, err := top.Rebind(context.Background(), SideA)
				require.NoError(t, err)
				require.Equal(t, tt.side.MappingLifetime+RebindMargin, d)
			} else {
				require.NoError(t, top.Silence(SideA, true))
				require.Nil(t, binding(t, c, server), "a silent side gets no answer")
				require.Equal(t, 1, top.Drops(SideA).Silence, "the silence dropped the request at the side's NAT")
				time.Sleep(tt.silence)
				require.NoError(t, top.Silence(SideA, false))
			}
			after := binding(t, c, server)
			require.NotNil(t, after)
			require.Equal(t, before.IP.String(), after.IP.String())
			require.Equal(t, tt.newPort, before.Port != after.Port, "before %v, after %v", before, after)

			local := net.JoinHostPort(top.HostIP(SideA).String(), itoa(c.LocalAddr().(*net.UDPAddr).Port))
			require.Equal(t, after.String(), top.ExternalAddr(SideA, local, server), "the topology saw the same external address as the relay")
			changes := top.MappingChanges(SideA)
			if !tt.newPort {
				require.Empty(t, changes)
				return
			}
			require.Len(t, changes, 1)
			require.Equal(t, MappingChange{At: changes[0].At, Local: local, Remote: server, Old: before.String(), New: after.String()}, changes[0])
		})
	}
}

// TestRebindSeenByPeer: an open peer receives the side's packets from a
// new source port after a rebind, and its replies to the old port are
// dropped by the side's NAT.
func TestRebindSeenByPeer(t *testing.T) {
	top, err := Build(Spec{A: Side{Preset: "full-cone", MappingLifetime: 300 * time.Millisecond}})
	require.NoError(t, err)
	defer top.Close()
	na, _ := top.Net(SideA)
	nb, _ := top.Net(SideB)
	ca, cb := listen(t, na), listen(t, nb)
	bAddr := &net.UDPAddr{IP: top.PublicIP(SideB), Port: cb.LocalAddr().(*net.UDPAddr).Port}
	recv := func(c net.PacketConn) net.Addr {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
		buf := make([]byte, 10)
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			return nil
		}
		return from
	}
	_, err = ca.WriteTo([]byte("1"), bAddr)
	require.NoError(t, err)
	oldSrc := recv(cb)
	require.NotNil(t, oldSrc)
	_, err = top.Rebind(context.Background(), SideA)
	require.NoError(t, err)
	_, err = cb.WriteTo([]byte("2"), oldSrc)
	require.NoError(t, err)
	require.Nil(t, recv(ca), "the old mapping is gone: the peer's packet is dropped")
	_, err = ca.WriteTo([]byte("3"), bAddr)
	require.NoError(t, err)
	newSrc := recv(cb)
	require.NotNil(t, newSrc)
	require.NotEqual(t, oldSrc.String(), newSrc.String())
	require.Equal(t, oldSrc.(*net.UDPAddr).IP.String(), newSrc.(*net.UDPAddr).IP.String())
}

func TestSilenceErrors(t *testing.T) {
	top, err := Build(Spec{A: Side{Preset: "open"}, B: Side{Preset: "full-cone"}})
	require.NoError(t, err)
	defer top.Close()
	require.ErrorIs(t, top.Silence(SideA, true), ErrNoNAT)
	_, err = top.Rebind(context.Background(), SideA)
	require.ErrorIs(t, err, ErrNoNAT)
	require.ErrorIs(t, top.Silence("c", true), ErrUnknownSide)
	require.Equal(t, 30*time.Second, top.MappingLifetime(SideB), "pion's default")
	require.Zero(t, top.MappingLifetime(SideA))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = top.Rebind(ctx, SideB)
	require.True(t, errors.Is(err, context.Canceled))
	require.Zero(t, top.Drops(SideB).Silence)
}

func itoa(i int) string { return strconv.Itoa(i) }
