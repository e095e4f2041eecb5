package call

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/transport/v3/stdnet"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// tlsEcho serves TLS on loopback with a fresh certificate for 127.0.0.1,
// echoing what it reads; it returns the address and a pool trusting it.
func tlsEcho(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	conf, _, err := relay.SelfSignedTLS([]string{"127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String(), roots
}

func TestTURNDialerVerifiesWithRoots(t *testing.T) {
	addr, roots := tlsEcho(t)
	n, err := stdnet.NewNet()
	require.NoError(t, err)
	servers := []webrtc.ICEServer{{URLs: []string{"turns:" + addr + "?transport=tcp", "turn:" + addr + "?transport=udp"}}}

	d := newTURNDialer(n, roots, servers)
	require.NotNil(t, d, "turns: with roots of the caller's needs the engine's own TLS")
	c, err := d.Dial("tcp4", addr)
	require.NoError(t, err)
	defer c.Close()
	tc, ok := c.(*tls.Conn)
	require.True(t, ok, "a turns: server is dialled over TLS")
	require.True(t, tc.ConnectionState().HandshakeComplete)
	_, ok = c.LocalAddr().(*net.TCPAddr) // pion asserts this
	require.True(t, ok)
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))

	// A certificate the roots do not trust is refused, not skipped.
	_, other := tlsEcho(t)
	_, err = newTURNDialer(n, other, servers).Dial("tcp4", addr)
	require.ErrorContains(t, err, "TURN over TLS to "+addr)
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)
}

func TestNewTURNDialerOnlyWhenNeeded(t *testing.T) {
	n, err := stdnet.NewNet()
	require.NoError(t, err)
	roots := x509.NewCertPool()
	tcp := []webrtc.ICEServer{{URLs: []string{"turn:203.0.113.1:3478?transport=tcp"}}}
	tls := []webrtc.ICEServer{{URLs: []string{"turns:relay.natkit.lab:443?transport=tcp"}}}
	require.Nil(t, newTURNDialer(n, nil, tls), "no roots: pion's own TLS")
	require.Nil(t, newTURNDialer(n, roots, tcp), "no turns: URL")
	d := newTURNDialer(n, roots, tls)
	require.Equal(t, map[string]string{"relay.natkit.lab:443": "relay.natkit.lab"}, d.tlsHosts)
	// An IPv6-only host needs no dialer for TURN over TCP: its Net
	// answers pion's "tcp4" in IPv6 (TestIPv6OnlyNetAnswersTURNOverTCPInIPv6),
	// and the dialer it gets for turns: with roots dials through that Net.
	v6 := forFamilies(&callRecorder{}, false, true)
	require.Nil(t, newTURNDialer(v6, nil, tcp), "an IPv6-only host dials TURN over TCP through its Net")
	require.Nil(t, newTURNDialer(v6, nil, tls), "IPv6-only with turns: and no roots keeps pion's TLS")
	require.Equal(t, v6, newTURNDialer(v6, roots, tls).n, "the dialer dials through the family-wrapped Net")
}

// A relay-only call whose turns: server presents a certificate the
// peers' roots do not trust ends with the handshake's own error.
func TestCallNamesTURNTLSHandshakeFailure(t *testing.T) {
	addr, _ := tlsEcho(t)
	_, other := tlsEcho(t)
	servers := []webrtc.ICEServer{{URLs: []string{"turns:" + addr + "?transport=tcp"}, Username: "u", Credential: "p"}}
	ice := FastICE()
	peer := PeerConfig{ICEServers: servers, RelayOnly: true, TURNRootCAs: other, ICE: &ice}
	r, err := Run(context.Background(), Config{A: peer, B: peer, ConnectTimeout: 3 * time.Second})
	require.NoError(t, err)
	require.False(t, r.Connected)
	require.Equal(t, CauseTURNHandshakeFailed, r.Cause, r.Diagnosis())
	require.NotEmpty(t, r.TURNHandshakeErrors)
	require.Equal(t, "tls", r.TURNHandshakeErrors[0].Transport)
	require.Contains(t, r.TURNHandshakeErrors[0].Error, "certificate signed by unknown authority")
	require.Contains(t, r.Diagnosis(), "tls handshake with "+addr+" failed")
}

func TestFatalAlert(t *testing.T) {
	record := func(typ byte, epoch uint16, body ...byte) []byte {
		b := []byte{typ, 0xfe, 0xfd, byte(epoch >> 8), byte(epoch), 0, 0, 0, 0, 0, 1, 0, byte(len(body))}
		return append(b, body...)
	}
	handshake := record(22, 0, 1, 2, 3)
	require.Equal(t, "BadCertificate", fatalAlert(append(handshake, record(21, 0, 2, 42)...)))
	require.Equal(t, "", fatalAlert(record(21, 0, 1, 0)), "a warning is not fatal")
	require.Equal(t, "", fatalAlert(record(21, 1, 2, 42)), "an encrypted record is not read")
	require.Equal(t, "", fatalAlert(record(21, 0, 2, 42)[:14]), "a cut record is ignored")
	require.Equal(t, "", fatalAlert([]byte{0, 1}))
}
