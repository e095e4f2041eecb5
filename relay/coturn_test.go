package relay_test

import (
	"context"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
)

// Interop with coturn's clients (Debian package coturn): turnutils_uclient
// allocates and relays through natkit's relay to turnutils_peer, and
// turnutils_natdiscovery classifies loopback through its RFC 5780 support.

var lostRe = regexp.MustCompile(`Total lost packets (\d+) `)
var recvRe = regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)

func startPeer(t *testing.T) int {
	t.Helper()
	bin := externaltest.LookPath(t, "turnutils_peer", "coturn")
	port := externaltest.FreeUDPPort(t, "127.0.0.1")
	externaltest.Start(t, bin, "-L", "127.0.0.1", "-p", strconv.Itoa(port))
	waitEcho(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second)
	return port
}

// waitEcho waits until the UDP echo peer at addr sends a datagram back: the
// condition the tests need, instead of a guess at its start-up time.
func waitEcho(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	c, err := net.Dial("udp", addr) // either family
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 64)
	err = externaltest.WaitFor(timeout, func() bool {
		if _, err := c.Write([]byte("natkit ready?")); err != nil {
			return false
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Read(buf)
		return err == nil && string(buf[:n]) == "natkit ready?"
	})
	require.NoError(t, err, "turnutils_peer on %s did not echo", addr)
}

func TestCoturnUclientInterop(t *testing.T) {
	uclient := externaltest.LookPath(t, "turnutils_uclient", "coturn")
	peerPort := startPeer(t)
	loopback := relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	tests := []struct {
		name     string
		policy   relay.PeerPolicy
		args     []string
		wantOK   bool
		wantFail string // output expected when the run fails
	}{
		{"static user udp", loopback, []string{"-u", "lab", "-w", "labpass"}, true, ""},
		{"static user tcp", loopback, []string{"-t", "-u", "lab", "-w", "labpass"}, true, ""},
		{"static user tls", loopback, []string{"-t", "-S", "-u", "lab", "-w", "labpass"}, true, ""},
		{"static user dtls", loopback, []string{"-S", "-u", "lab", "-w", "labpass"}, true, ""},
		{"rest secret", loopback, []string{"-W", "shared-secret", "-u", "carol"}, true, ""},
		{"wrong password", loopback, []string{"-u", "lab", "-w", "nope"}, false, "Cannot complete Allocation"},
		{"default policy refuses loopback peer", relay.PeerPolicy{}, []string{"-u", "lab", "-w", "labpass"}, false, "403"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := externaltest.FreePort(t, "127.0.0.1")
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			// tls and dtls share a port number, as on coturn's
			// tls-listening-port.
			tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(externaltest.FreePort(t, "127.0.0.1")))
			tlsCfg, _, err := relay.SelfSignedTLS([]string{"127.0.0.1"}, time.Hour)
			require.NoError(t, err)
			srv := startLoopback(t, relay.Config{
				Listen: []relay.Listener{{Network: "udp", Addr: addr}, {Network: "tcp", Addr: addr},
					{Network: "tls", Addr: tlsAddr}, {Network: "dtls", Addr: tlsAddr}},
				Users:      map[string]string{"lab": "labpass"},
				Secrets:    []string{"shared-secret"},
				PeerPolicy: tc.policy,
				TLSConfig:  tlsCfg,
			})
			if slices.Contains(tc.args, "-S") {
				_, p, _ := net.SplitHostPort(tlsAddr)
				port, _ = strconv.Atoi(p)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"-p", strconv.Itoa(port), "-e", "127.0.0.1", "-r", strconv.Itoa(peerPort),
				"-n", "50", "-m", "4", "-l", "120", "-z", "5"}, tc.args...)
			out, err := externaltest.Run(ctx, uclient, append(args, "127.0.0.1")...)
			if !tc.wantOK {
				require.Error(t, err, out)
				require.Contains(t, out, tc.wantFail)
				if tc.wantFail == "403" {
					require.Positive(t, srv.Stats().PermissionsDenied[relay.RuleLoopback])
				} else {
					require.Positive(t, srv.Stats().AuthFailures[relay.ReasonWrongPassword])
				}
				return
			}
			require.NoError(t, err, out)
			requireUclientRelayed(t, out, srv)
		})
	}
}

// requireUclientRelayed checks a turnutils_uclient run of 4 clients × 50
// messages: nothing lost, all 200 echoed, and the relay counted them.
func requireUclientRelayed(t *testing.T, out string, srv *relay.Server) {
	t.Helper()
	m := lostRe.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	require.Equal(t, "0", m[1], "lost packets")
	r := recvRe.FindStringSubmatch(out)
	require.NotNil(t, r, out)
	require.Equal(t, "200", r[1])
	require.Equal(t, "200", r[2])
	st := srv.Stats()
	require.GreaterOrEqual(t, st.Allocations[relay.OutcomeCreated], uint64(4))
	require.GreaterOrEqual(t, st.PacketsToPeer, uint64(200))
	require.GreaterOrEqual(t, st.PacketsToClient, uint64(200))
}

func TestCoturnNatDiscovery(t *testing.T) {
	natdiscovery := externaltest.LookPath(t, "turnutils_natdiscovery", "coturn")
	var srv *relay.Server
	var port int
	// The relay needs port and port+1 on 127.0.0.1 and 127.0.0.2.
	for range 20 {
		port = externaltest.FreeUDPPort(t, "127.0.0.1")
		s, err := relay.New(relay.Config{
			Listen: []relay.Listener{{Network: "udp", Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}},
			AltIP:  net.ParseIP("127.0.0.2"),
		})
		if err == nil {
			srv = s
			break
		}
	}
	require.NotNil(t, srv, "no free port pair for RFC 5780")
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := externaltest.Run(ctx, natdiscovery, "-m", "-f", "-p", strconv.Itoa(port), "127.0.0.1")
	require.NoError(t, err, out)
	require.Contains(t, out, "NAT with Endpoint Independent Mapping!")
	require.Contains(t, out, "NAT with Endpoint Independent Filtering!")
	require.Contains(t, out, "Other addr: : 127.0.0.2:"+strconv.Itoa(port+1))
	require.GreaterOrEqual(t, srv.Stats().BindingRequests, uint64(4))
}
