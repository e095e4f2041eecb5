package relay

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/require"
)

func TestNonceBook(t *testing.T) {
	b, err := newNonceBook(10 * time.Minute)
	require.NoError(t, err)
	now := time.Unix(1_800_000_000, 0)
	b.now = func() time.Time { return now }
	a := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5000}
	c := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5001}
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3478}
	tupleA, tupleC := nonceTuple(NetworkUDP, a, local), nonceTuple(NetworkUDP, c, local)
	n := b.mint(tupleA)

	require.True(t, b.valid(n, tupleA))
	require.False(t, b.valid(n, tupleC), "another 5-tuple")
	require.False(t, b.valid(n, nonceTuple(NetworkTCP, a, local)), "another transport")
	other, err := newNonceBook(10 * time.Minute)
	require.NoError(t, err)
	require.False(t, other.valid(n, tupleA), "another relay (or a restart)")
	for _, bad := range []string{"", "zz", n[:len(n)-2], n + "00", "0000000000000000" + n[16:]} {
		require.False(t, b.valid(bad, tupleA), "malformed %q", bad)
	}

	now = now.Add(10 * time.Minute)
	require.True(t, b.valid(n, tupleA), "valid for the whole lifetime")
	now = now.Add(time.Second)
	require.False(t, b.valid(n, tupleA), "expired")
	now = now.Add(-20 * time.Minute)
	require.False(t, b.valid(n, tupleA), "issued in the future")
}

func TestRebindReplacesPionNonce(t *testing.T) {
	b, err := newNonceBook(time.Minute)
	require.NoError(t, err)
	_, ok := b.pionNonce()
	require.False(t, ok)
	resp, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse),
		stun.CodeUnauthorized, stun.NewNonce("pion-nonce"), stun.NewRealm("natkit"))
	require.NoError(t, err)
	require.True(t, isNonceChallenge(resp.Raw))
	out := b.rebind(resp.Raw, "t")
	m := &stun.Message{Raw: out}
	require.NoError(t, m.Decode())
	var nonce stun.Nonce
	require.NoError(t, nonce.GetFrom(m))
	require.True(t, b.valid(nonce.String(), "t"))
	require.Equal(t, resp.TransactionID, m.TransactionID)
	require.Equal(t, resp.Type, m.Type)
	pn, ok := b.pionNonce()
	require.True(t, ok)
	require.Equal(t, "pion-nonce", string(pn))

	// Success responses, indications and ChannelData are not looked at.
	for _, typ := range []stun.MessageType{stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse),
		stun.NewType(stun.MethodData, stun.ClassIndication), stun.BindingRequest} {
		m, err := stun.Build(stun.TransactionID, typ)
		require.NoError(t, err)
		require.False(t, isNonceChallenge(m.Raw), "%s", typ)
	}
	require.False(t, isNonceChallenge([]byte{0x40, 0x00, 0x00, 0x10, 0x01, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
}
