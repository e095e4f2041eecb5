package call

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

func TestStreamReaderFraming(t *testing.T) {
	var got [][]byte
	r := streamReader{message: func(m []byte) { got = append(got, append([]byte(nil), m...)) }}
	a := turnMessage(t, [12]byte{1}, stun.NewType(stun.MethodAllocate, stun.ClassRequest))
	b := turnMessage(t, [12]byte{2}, stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse), stun.CodeUnauthorized)
	channelData := []byte{0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0} // 5 bytes, padded to 8
	stream := append(append(append([]byte(nil), a...), channelData...), b...)
	// Byte by byte: every message whole, the ChannelData frame skipped.
	for i := range stream {
		r.feed(stream[i : i+1])
	}
	require.Equal(t, [][]byte{a, b}, got)
	require.False(t, r.dead)

	// TLS ciphertext (a handshake record) breaks the framing: not read.
	r.feed(append([]byte{0x16, 0x03, 0x01, 0x00, 0x30}, make([]byte, 0x30)...))
	require.True(t, r.dead)
	r.feed(a)
	require.Len(t, got, 2)
}

// Over TURN/TCP and TURN/TLS, a side with a wrong password gets 401s that
// the engine reads in the stream: the call's cause names the credentials.
func TestTURNAuthFailureOverStreams(t *testing.T) {
	conf, _, err := relay.SelfSignedTLS([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	srv, err := relay.New(relay.Config{
		Listen:    []relay.Listener{{Network: relay.NetworkTCP, Addr: "127.0.0.1:0"}, {Network: relay.NetworkTLS, Addr: "127.0.0.1:0"}},
		Users:     map[string]string{"alice": "right"},
		TLSConfig: &tls.Config{Certificates: conf.Certificates},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	urls, addrs := map[string]string{}, map[string]string{}
	for _, a := range srv.Addrs() {
		if a.Network == relay.NetworkTLS {
			urls["tls"], addrs["tls"] = "turns:"+a.Addr+"?transport=tcp", a.Addr
		} else {
			urls["tcp"], addrs["tcp"] = "turn:"+a.Addr+"?transport=tcp", a.Addr
		}
	}
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			ice := FastICE()
			peer := func(password string) PeerConfig {
				return PeerConfig{RelayOnly: true, ICE: &ice, TURNRootCAs: roots,
					ICEServers: []webrtc.ICEServer{{URLs: []string{urls[transport]}, Username: "alice", Credential: password}}}
			}
			r, err := Run(context.Background(), Config{A: peer("right"), B: peer("wrong"), ConnectTimeout: 3 * time.Second})
			require.NoError(t, err)
			require.False(t, r.Connected)
			require.Equal(t, CauseTURNAuthFailed, r.Cause, r.Diagnosis())
			require.Contains(t, r.Diagnosis(), "side b's TURN server "+addrs[transport]+" answered 401 Unauthorized to its authenticated Allocate")
		})
	}
}

// A turns:…?transport=udp server whose certificate the system roots do not
// trust: pion refuses it with a bad_certificate alert, and the engine
// names x509's reason from the certificate it read in the handshake.
func TestTURNDTLSHandshakeFailureNamesTheReason(t *testing.T) {
	conf, _, err := relay.SelfSignedTLS([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	srv, err := relay.New(relay.Config{
		Listen:    []relay.Listener{{Network: relay.NetworkDTLS, Addr: "127.0.0.1:0"}},
		Users:     map[string]string{"alice": "right"},
		TLSConfig: &tls.Config{Certificates: conf.Certificates},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	addr := srv.Addrs()[0].Addr
	ice := FastICE()
	peer := PeerConfig{RelayOnly: true, ICE: &ice,
		ICEServers: []webrtc.ICEServer{{URLs: []string{"turns:" + addr + "?transport=udp"}, Username: "alice", Credential: "right"}}}
	r, err := Run(context.Background(), Config{A: peer, B: peer, ConnectTimeout: 3 * time.Second})
	require.NoError(t, err)
	require.Equal(t, CauseTURNHandshakeFailed, r.Cause, r.Diagnosis())
	require.NotEmpty(t, r.TURNHandshakeErrors)
	e := r.TURNHandshakeErrors[0]
	require.Equal(t, "dtls", e.Transport)
	require.Equal(t, "this peer sent the fatal alert BadCertificate: x509: certificate signed by unknown authority", e.Error)
}
