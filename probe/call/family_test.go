package call

import (
	"errors"
	"net"
	"testing"

	"github.com/pion/transport/v3"
	"github.com/stretchr/testify/require"
)

// callRecorder is a Net that records the network and address of each
// packet socket and UDP resolution asked of it, and makes none.
type callRecorder struct {
	transport.Net
	calls [][2]string
}

var errRecorded = errors.New("recorded")

func (r *callRecorder) ListenPacket(network, address string) (net.PacketConn, error) {
	r.calls = append(r.calls, [2]string{network, address})
	return nil, errRecorded
}

func (r *callRecorder) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	r.calls = append(r.calls, [2]string{network, address})
	return nil, errRecorded
}

func (r *callRecorder) DialTCP(network string, _, raddr *net.TCPAddr) (transport.TCPConn, error) {
	r.calls = append(r.calls, [2]string{network, raddr.String()})
	return nil, errRecorded
}

func (r *callRecorder) Dial(network, address string) (net.Conn, error) {
	r.calls = append(r.calls, [2]string{network, address})
	return nil, errRecorded
}

func (r *callRecorder) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	r.calls = append(r.calls, [2]string{network, address})
	return nil, errRecorded
}

// pion's TURN/UDP calls, answered in IPv6 on an IPv6-only host only;
// IPv4 literals and other sockets are left as asked.
func TestIPv6OnlyNetAnswersTURNOverUDPInIPv6(t *testing.T) {
	r := &callRecorder{}
	require.Same(t, r, forFamilies(r, true, true), "dual stack: pion's own calls")
	require.Same(t, r, forFamilies(r, true, false), "IPv4 only: pion's own calls")
	n := forFamilies(r, false, true)
	for _, c := range []struct {
		network, address string
		want             [2]string
		listen           bool
	}{
		{"udp4", "0.0.0.0:0", [2]string{"udp6", "[::]:0"}, true},                             // ice gather.go: the TURN/UDP socket
		{"udp4", "relay.natkit.lab:3478", [2]string{"udp6", "relay.natkit.lab:3478"}, false}, // pion/turn: the server
		{"udp4", "203.0.113.1:3478", [2]string{"udp4", "203.0.113.1:3478"}, false},
		{"udp4", "224.0.0.251:5353", [2]string{"udp4", "224.0.0.251:5353"}, false}, // mDNS's group
		{"udp6", "[2001:db8::1]:0", [2]string{"udp6", "[2001:db8::1]:0"}, true},
		{"udp4", "0.0.0.0:5353", [2]string{"udp4", "0.0.0.0:5353"}, true},
	} {
		r.calls = nil
		var err error
		if c.listen {
			_, err = n.ListenPacket(c.network, c.address)
		} else {
			_, err = n.ResolveUDPAddr(c.network, c.address)
		}
		require.ErrorIs(t, err, errRecorded)
		require.Equal(t, [][2]string{c.want}, r.calls, "%s %s", c.network, c.address)
	}
}

// pion's own TURN over TCP/TLS (no proxy dialer: turns: with the system
// roots) resolves and dials with "tcp4": answered in IPv6 too.
func TestIPv6OnlyNetAnswersTURNOverTCPInIPv6(t *testing.T) {
	r := &callRecorder{}
	n := forFamilies(r, false, true)
	_, err := n.ResolveTCPAddr("tcp4", "relay.natkit.lab:443")
	require.ErrorIs(t, err, errRecorded)
	_, err = n.ResolveTCPAddr("tcp4", "203.0.113.1:443")
	require.ErrorIs(t, err, errRecorded)
	_, err = n.DialTCP("tcp4", nil, &net.TCPAddr{IP: net.ParseIP("64:ff9b::cb00:7101"), Port: 443})
	require.ErrorIs(t, err, errRecorded)
	_, err = n.DialTCP("tcp4", nil, &net.TCPAddr{IP: net.ParseIP("203.0.113.1"), Port: 443})
	require.ErrorIs(t, err, errRecorded)
	// turnDialer's dial (TURN over TLS with the caller's roots).
	_, err = n.Dial("tcp4", "relay.natkit.lab:443")
	require.ErrorIs(t, err, errRecorded)
	require.Equal(t, [][2]string{
		{"tcp6", "relay.natkit.lab:443"}, {"tcp4", "203.0.113.1:443"},
		{"tcp6", "[64:ff9b::cb00:7101]:443"}, {"tcp4", "203.0.113.1:443"},
		{"tcp6", "relay.natkit.lab:443"},
	}, r.calls)
}
