//go:build linux && (amd64 || arm64)

package load

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// TestSendPaths runs relayed traffic through natkit relay (its event
// loops, with their own io_uring) on each of the batched path's send
// calls: every packet comes back, and the report names the call used.
func TestSendPaths(t *testing.T) {
	srv, err := relay.New(relay.Config{Listen: []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}},
		Users: map[string]string{"u": "p"}, PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	peer := startPeer(t)
	old := sendVia
	t.Cleanup(func() { sendVia = old })
	for _, via := range []string{SendPathIOURing, SendPathSend, SendPathWrite} {
		t.Run(via, func(t *testing.T) {
			sendVia = via
			res, err := Run(context.Background(), Config{Server: srv.Addrs()[0].Addr, Username: "u", Password: "p",
				Allocations: 4, PPS: 50, Peer: peer.Addr().String(), Duration: 400 * time.Millisecond})
			require.NoError(t, err)
			require.Equal(t, DataPathBatched, res.DataPath)
			if via == SendPathIOURing && strings.HasPrefix(res.SendPath, SendPathSend+" (") {
				t.Logf("io_uring refused here, fell back: %s", res.SendPath)
			} else {
				require.Equal(t, via, res.SendPath)
			}
			require.Positive(t, res.Sent)
			require.Equal(t, res.Sent, res.Received)
			require.Zero(t, res.SendErrors)
		})
	}
}

// cmsg builds one control message with a 16-byte payload, padded to 8.
func cmsg(level, typ int32, sec, nsec int64) []byte {
	b := make([]byte, syscall.SizeofCmsghdr+16)
	ne := binary.NativeEndian
	ne.PutUint64(b[0:], uint64(len(b)))
	ne.PutUint32(b[8:], uint32(level))
	ne.PutUint32(b[12:], uint32(typ))
	ne.PutUint64(b[16:], uint64(sec))
	ne.PutUint64(b[24:], uint64(nsec))
	return b
}

func TestRxTimestamp(t *testing.T) {
	ts := cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, 1700000000, 123456789)
	other := cmsg(syscall.IPPROTO_IP, syscall.IP_TTL, 64, 0)
	badLen := append([]byte(nil), ts...)
	binary.NativeEndian.PutUint64(badLen, 200) // longer than the buffer
	tests := []struct {
		name string
		c    []byte
		want int64
		ok   bool
	}{
		{"timestamp", ts, 1700000000*1e9 + 123456789, true},
		{"after another message", append(append([]byte(nil), other...), ts...), 1700000000*1e9 + 123456789, true},
		{"no timestamp", other, 0, false},
		{"empty", nil, 0, false},
		{"truncated header", ts[:10], 0, false},
		{"length beyond the buffer", badLen, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := rxTimestamp(tt.c)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
}
