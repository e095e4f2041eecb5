package gather

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/relay"
)

// dtlsRelay starts natkit relay on loopback with a UDP and a DTLS listener
// serving cert, closed in t.Cleanup.
func dtlsRelay(t *testing.T, cert tls.Certificate) (dtlsAddr, udpAddr string) {
	t.Helper()
	s, err := relay.New(relay.Config{
		Listen:    []relay.Listener{{Network: relay.NetworkUDP, Addr: "127.0.0.1:0"}, {Network: relay.NetworkDTLS, Addr: "127.0.0.1:0"}},
		Users:     map[string]string{"alice": "right"},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	for _, a := range s.Addrs() {
		if a.Network == relay.NetworkDTLS {
			dtlsAddr = a.Addr
		} else {
			udpAddr = a.Addr
		}
	}
	return dtlsAddr, udpAddr
}

// TURN over DTLS (turns:…?transport=udp) gets the same exact causes as
// TLS: a working relay, an unknown authority, an expired certificate, a
// certificate for another name, a plain TURN port (not DTLS at all, with
// the URL to use instead) and a closed port.
func TestTURNSOverDTLSDirectProbe(t *testing.T) {
	good, goodPool := testCert(t, time.Now().Add(time.Hour))
	expired, expiredPool := testCert(t, time.Now().Add(-time.Hour))
	srv := dtlsRelay
	closedPort := func(t *testing.T) string {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		require.NoError(t, err)
		addr := pc.LocalAddr().String()
		require.NoError(t, pc.Close())
		return addr
	}
	tests := []struct {
		name       string
		cert       tls.Certificate
		roots      *x509.CertPool
		serverName string
		target     func(dtls, udp string) string
		cause      Cause
		message    string
	}{
		{"trusted certificate", good, goodPool, "", nil, CauseTURNOK, "TURN OK: relay address 127.0.0.1:"},
		{"unknown authority", good, nil, "", nil, CauseDTLS, "DTLS handshake failure with 127.0.0.1:"},
		{"expired certificate", expired, expiredPool, "", nil, CauseDTLS, "has expired or is not yet valid"},
		{"wrong name", good, goodPool, "other.test", nil, CauseDTLS, `not valid for "other.test"`},
		{"plain turn port", good, goodPool, "", func(_, udp string) string { return udp }, CauseNotDTLS, "so this is a plain TURN port: use turn:127.0.0.1:"},
		{"closed port", good, goodPool, "", func(string, string) string { return closedPort(t) }, CauseUnreachable, "port unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dtlsAddr, udpAddr := srv(t, tt.cert)
			target := dtlsAddr
			if tt.target != nil {
				target = tt.target(dtlsAddr, udpAddr)
			}
			res, err := Run(context.Background(), Config{
				Servers:   servers(t, "alice", "right", "turns:"+target+"?transport=udp"),
				Timeout:   2 * time.Second,
				TLSConfig: &tls.Config{RootCAs: tt.roots, ServerName: tt.serverName, MinVersion: tls.VersionTLS12},
			})
			require.NoError(t, err)
			s := res.Servers[0]
			assert.Equal(t, tt.cause, s.Cause, s.Diagnosis)
			assert.Contains(t, s.Diagnosis, tt.message)
			if tt.name == "unknown authority" {
				assert.Contains(t, s.Diagnosis, "signed by an unknown authority")
			}
			require.Len(t, res.Transports, 1)
			want := "failed"
			if tt.cause.OK() {
				want = "ok"
			}
			assert.Equal(t, want, res.Transports[0].DTLS)
		})
	}
}

// The mapping check compares plain Binding answers: a DTLS server is not
// asked (it would never answer, holding the gather until its timeout),
// so a UDP and a DTLS URL of one relay leave one target and no check.
func TestMappingCheckLeavesOutDTLS(t *testing.T) {
	good, _ := testCert(t, time.Now().Add(time.Hour))
	dtlsAddr, udpAddr := dtlsRelay(t, good)
	var servers iceconfig.Servers
	for _, raw := range []string{"turn:" + udpAddr + "?transport=udp", "turns:" + dtlsAddr + "?transport=udp"} {
		srv, err := iceconfig.ParseURL(raw, "test")
		require.NoError(t, err)
		srv.Username, srv.Credential = "alice", "right"
		servers = append(servers, srv)
	}
	g := &gatherer{cfg: Config{Servers: servers}.withDefaults()}
	mappings, varies := g.mappingCheck(context.Background(), servers)
	require.Nil(t, mappings, "one plain UDP server: nothing to compare")
	require.False(t, varies)
}
