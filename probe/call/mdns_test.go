package call

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A check that arrives before the partner's .local name resolves makes
// its address peer-reflexive: the path is still host to host, through the
// partner's mDNS candidate.
func TestPathOfResolvedMDNSCandidate(t *testing.T) {
	pair := &Pair{Local: Candidate{Type: "host", Protocol: "udp", Address: "a1b2.local:5000", MDNS: true},
		Remote: Candidate{Type: "prflx", Protocol: "udp", Address: "10.77.0.2:6000"}}
	remote := []Candidate{{Type: "host", Protocol: "udp", Address: "c3d4.local:6000", MDNS: true}}
	p := PathOf(pair, "a", "b", remote)
	assert.Equal(t, PathDirectHost, p.Class)
	assert.True(t, p.Pair.Remote.MDNS)
	assert.Equal(t, "host", p.Pair.Remote.Type)
	assert.Contains(t, p.Pair.Local.String(), "(mDNS)")

	// Another port is another socket: still prflx.
	remote[0].Address = "c3d4.local:6001"
	assert.Equal(t, PathDirectNAT, PathOf(pair, "a", "b", remote).Class)
}

func TestMDNSModeValidated(t *testing.T) {
	err := PeerConfig{Role: RoleOffer, MDNS: "loud"}.validate()
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), `"loud": want off, query or gather`)
	for _, m := range []MDNSMode{"", MDNSOff, MDNSQuery, MDNSGather} {
		require.NoError(t, PeerConfig{Role: RoleOffer, MDNS: m}.validate())
	}
}
