package relay_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/internal/tcpturn"
	"github.com/natkit/natkit/relay"
)

// RFC 6062 interop with coturn, both directions: coturn's client
// (turnutils_uclient -T: pairs of TCP allocations that Connect to each
// other's relayed address) through natkit relay, and natkit's client
// through coturn's turnserver.

func TestTCPAllocationCoturnUclient(t *testing.T) {
	uclient := externaltest.LookPath(t, "turnutils_uclient", "coturn")
	tlsCfg, _, err := relay.SelfSignedTLS([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"tcp", []string{"-T"}},
		{"tls", []string{"-T", "-S"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startLoopback(t, relay.Config{
				Listen: []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tcp", Addr: "127.0.0.1:0"},
					{Network: "tls", Addr: "127.0.0.1:0"}},
				Users: map[string]string{"lab": "labpass"}, TCPRelay: true, PeerPolicy: loopbackPeers, TLSConfig: tlsCfg,
			})
			network := "tcp"
			if len(tc.args) > 1 {
				network = "tls"
			}
			_, port, _ := net.SplitHostPort(addrOf(t, srv, network))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"-p", port, "-u", "lab", "-w", "labpass", "-e", "127.0.0.1",
				"-n", "20", "-m", "2", "-l", "120", "-z", "5"}, tc.args...)
			out, err := externaltest.Run(ctx, uclient, append(args, "127.0.0.1")...)
			require.NoError(t, err, out)
			m := lostRe.FindStringSubmatch(out)
			require.NotNil(t, m, out)
			require.Equal(t, "0", m[1], "lost messages\n%s", out)
			r := recvRe.FindStringSubmatch(out)
			require.NotNil(t, r, out)
			// -m 2 clients × -n 20 messages, each echoed by its partner client.
			require.Equal(t, "40", r[1], out)
			require.Equal(t, r[1], r[2], out)
			st := srv.Stats()
			require.GreaterOrEqual(t, st.BytesToPeer, uint64(40*120), "relayed through TCP allocations")
			require.GreaterOrEqual(t, st.Allocations[relay.OutcomeCreated], uint64(2), "a pair of TCP allocations at least")
		})
	}
}

func coturnTCPClient(t *testing.T, ct *externaltest.Coturn) *tcpturn.Client {
	return openTCPClient(t, "tcp4", ct.Addr(), "lab", "labpass")
}

func TestTCPAllocationAgainstCoturn(t *testing.T) {
	ct := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"lab:labpass"}, AllowLoopbackPeers: true})
	ctx := ctx5s(t)

	// Connect: coturn dials our peer; we bind and talk.
	c := coturnTCPClient(t, ct)
	alloc, err := c.Allocate(ctx)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", alloc.Relayed.Addr().String())
	ln, conns := peerListener(t)
	id, err := c.Connect(ctx, netip.MustParseAddrPort(ln.Addr().String()))
	require.NoError(t, err)
	pc := <-conns
	data, err := c.Bind(ctx, id)
	require.NoError(t, err)
	defer data.Close()
	_, err = data.Write([]byte("via coturn"))
	require.NoError(t, err)
	recvExactly(t, pc, "via coturn")
	_, err = pc.Write([]byte("back"))
	require.NoError(t, err)
	recvExactly(t, data, "back")

	// Incoming: a peer connects to the relayed address.
	require.NoError(t, c.CreatePermission(ctx, netip.MustParseAddr("127.0.0.1")))
	in, err := net.Dial("tcp4", alloc.Relayed.String())
	require.NoError(t, err)
	defer in.Close()
	var at tcpturn.Attempt
	select {
	case at = <-c.Attempts():
	case <-ctx.Done():
		t.Fatal("coturn sent no ConnectionAttempt")
	}
	d2, err := c.Bind(ctx, at.ID)
	require.NoError(t, err)
	defer d2.Close()
	_, err = in.Write([]byte("incoming"))
	require.NoError(t, err)
	recvExactly(t, d2, "incoming")

	// 446 for a second connection to the same peer, as natkit relay.
	_, err = c.Connect(ctx, netip.MustParseAddrPort(ln.Addr().String()))
	code, _ := stunCode(t, err)
	require.Equal(t, 446, code)
}

// coturn's refusals are the ground truth for natkit relay's codes.
func TestTCPAllocationCoturnRefusals(t *testing.T) {
	t.Run("no-tcp-relay is 442", func(t *testing.T) {
		ct := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"lab:labpass"}, Extra: []string{"--no-tcp-relay"}})
		_, err := coturnTCPClient(t, ct).Allocate(ctx5s(t))
		code, _ := stunCode(t, err)
		require.Equal(t, 442, code)
	})
	t.Run("loopback peer is 403", func(t *testing.T) {
		ct := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"lab:labpass"}})
		ctx := ctx5s(t)
		c := coturnTCPClient(t, ct)
		_, err := c.Allocate(ctx)
		require.NoError(t, err)
		_, err = c.Connect(ctx, netip.MustParseAddrPort("127.0.0.1:"+strconv.Itoa(ct.Port)))
		code, _ := stunCode(t, err)
		require.Equal(t, 403, code)
	})
}
