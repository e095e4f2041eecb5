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
	"github.com/natkit/natkit/relay"
)

// TestCoturnUclientIPv6 runs coturn's turnutils_uclient over IPv6 against
// a dual-stack natkit relay: with -x (REQUESTED-ADDRESS-FAMILY IPv6) it
// gets IPv6 relayed addresses and relays to turnutils_peer on ::1; with
// -X (IPv4) it relays to the peer on 127.0.0.1.
func TestCoturnUclientIPv6(t *testing.T) {
	skipWithoutIPv6(t)
	uclient := externaltest.LookPath(t, "turnutils_uclient", "coturn")
	peerBin := externaltest.LookPath(t, "turnutils_peer", "coturn")
	peerPort := externaltest.FreeUDPPort(t, "127.0.0.1")
	// turnutils_peer listens on one address per -L.
	externaltest.Start(t, peerBin, "-L", "127.0.0.1", "-L", "::1", "-p", strconv.Itoa(peerPort))
	waitEcho(t, net.JoinHostPort("::1", strconv.Itoa(peerPort)), 10*time.Second)
	waitEcho(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort)), 10*time.Second)

	for _, tc := range []struct {
		name, flag, peer string
	}{
		{"ipv6 relay (-x)", "-x", "::1"},
		{"ipv4 relay (-X)", "-X", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := externaltest.FreePort(t, "127.0.0.1")
			srv := startLoopback(t, relay.Config{
				Listen: []relay.Listener{{Network: "udp", Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))},
					{Network: "udp", Addr: net.JoinHostPort("::1", strconv.Itoa(port))}},
				Users:      map[string]string{"lab": "labpass"},
				PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := externaltest.Run(ctx, uclient, "-p", strconv.Itoa(port), "-e", tc.peer, "-r", strconv.Itoa(peerPort),
				"-n", "50", "-m", "4", "-l", "120", "-z", "5", "-u", "lab", "-w", "labpass", tc.flag, "::1")
			require.NoError(t, err, out)
			requireUclientRelayed(t, out, srv)
		})
	}
}
