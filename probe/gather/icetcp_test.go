package gather

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// TestICETCPHostCandidates: with ICETCP the gather reports passive TCP
// host candidates (RFC 6544, from natkit's TCP listener) beside the UDP
// ones, and the report shows the tcptype in the protocol column. pion's
// agent (ice v4.1.0) makes active candidates only when a remote passive
// one arrives during a call, so a gather has none.
func TestICETCPHostCandidates(t *testing.T) {
	srv, err := relay.New(relay.Config{Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: "127.0.0.1:0"}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	res, err := Run(context.Background(), Config{
		Servers: servers(t, "", "", "stun:"+srv.Addrs()[0].Addr), Timeout: 3 * time.Second,
		IncludeLoopback: true, ICETCP: true,
	})
	require.NoError(t, err)
	types := map[string]int{}
	for _, c := range res.Combined.Candidates {
		if c.Protocol == "tcp" {
			types[c.TCPType]++
			assert.Equal(t, "host", c.Type)
		}
	}
	require.Positive(t, types["passive"], "passive TCP host candidates: %+v", res.Combined.Candidates)
	require.Zero(t, types["active"], "pion makes active candidates per remote passive candidate, not when gathering")
	rep := res.Report()
	found := false
	for _, tb := range rep.Tables {
		for _, row := range tb.Rows {
			for _, cell := range row {
				found = found || cell == "tcp passive"
			}
		}
	}
	require.True(t, found, "the candidate table names the tcptype")
}
