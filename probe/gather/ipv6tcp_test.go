package gather

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
)

// TestGatherEveryTransportBothFamilies gathers through TURN over TCP, TLS
// and DTLS reached on 127.0.0.1 and on [::1], with the RFC 6062 check
// (--tcp-relay) on the TCP and TLS servers, against natkit relay and both
// coturns (Debian's 4.6.1 and upstream 4.17.1), each relaying from both
// families. The relay candidate is IPv4 by default (RFC 6156), so over
// IPv6 the verdict names the family mismatch and the IPv6 relay address
// the server gives when asked.
func TestGatherEveryTransportBothFamilies(t *testing.T) {
	freeUDP6(t)
	for _, tt := range []struct {
		name  string
		start func(t *testing.T) ([]string, *tls.Config)
	}{
		{"natkit relay", startNatkitBothFamilies},
		{"coturn 4.6.1", func(t *testing.T) ([]string, *tls.Config) { return coturnBothFamilies(t, "") }},
		{"coturn 4.17.1", func(t *testing.T) ([]string, *tls.Config) {
			return coturnBothFamilies(t, externaltest.LatestCoturnBin(t))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			urls, trust := tt.start(t)
			res, err := Run(context.Background(), Config{
				Servers:   servers(t, "alice", "right", urls...),
				Policy:    PolicyRelay,
				Timeout:   3 * time.Second,
				TLSConfig: trust,
				TCPRelay:  true,
			})
			require.NoError(t, err)
			require.Len(t, res.Servers, len(urls))
			for _, s := range res.Servers {
				require.Equal(t, CauseTURNOK, s.Cause, "%s: %s", s.URL, s.Diagnosis)
				assert.Equal(t, FamilyIPv4, familyOf(s.Relay), "%s: %s", s.URL, s.Relay)
				if strings.Contains(s.URL, "[::1]") {
					assert.Equal(t, FamilyIPv6, s.Family, s.URL)
					assert.Equal(t, FamilyIPv6, familyOf(s.RelayIPv6), "%s: %s", s.URL, s.Diagnosis)
				} else {
					assert.Equal(t, FamilyIPv4, s.Family, s.URL)
				}
				if s.Transport == "tcp" {
					require.NotNil(t, s.TCPRelay, s.URL)
					assert.Equal(t, CauseTCPRelayOK, s.TCPRelay.Cause, "%s: %s", s.URL, s.TCPRelay.Diagnosis)
				}
			}

			// --dual over UDP, reached on each family: RFC 8656's code
			// points (natkit relay) or the draft's (coturn).
			udp := func(u string) string { return strings.TrimSuffix(u, "?transport=tcp") }
			res, err = Run(context.Background(), Config{Servers: servers(t, "alice", "right", udp(urls[0]), udp(urls[len(urls)/2])),
				Timeout: 3 * time.Second, Dual: true})
			require.NoError(t, err)
			for _, s := range res.Servers {
				require.Equal(t, CauseTURNOK, s.Cause, "%s: %s", s.URL, s.Diagnosis)
				assert.Contains(t, s.RelayDual, "[::1]:", "%s: %s", s.URL, s.Diagnosis)
			}
		})
	}
}

// bothFamilyURLs are the TCP, TLS and DTLS URLs of servers on 127.0.0.1
// and ::1 (UDP listens on the TCP port too).
func bothFamilyURLs(tcpPort, tlsPort, dtlsPort string) []string {
	var urls []string
	for _, ip := range []string{"127.0.0.1", "::1"} {
		urls = append(urls, "turn:"+net.JoinHostPort(ip, tcpPort)+"?transport=tcp", "turns:"+net.JoinHostPort(ip, tlsPort),
			"turns:"+net.JoinHostPort(ip, dtlsPort)+"?transport=udp")
	}
	return urls
}

func startNatkitBothFamilies(t *testing.T) ([]string, *tls.Config) {
	tc, _, err := relay.SelfSignedTLS([]string{"127.0.0.1", "::1"}, time.Hour)
	require.NoError(t, err)
	port := func(network string) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if network == relay.NetworkDTLS {
			_, p, _ := net.SplitHostPort(freeUDP6(t))
			return p
		}
		require.NoError(t, err)
		defer l.Close()
		_, p, _ := net.SplitHostPort(l.Addr().String())
		return p
	}
	ports := map[string]string{}
	var ls []relay.Listener
	for _, n := range []string{relay.NetworkTCP, relay.NetworkTLS, relay.NetworkDTLS} {
		ports[n] = port(n)
		if n == relay.NetworkTCP {
			for _, ip := range []string{"127.0.0.1", "::1"} {
				ls = append(ls, relay.Listener{Network: relay.NetworkUDP, Addr: net.JoinHostPort(ip, ports[n])})
			}
		}
		for _, ip := range []string{"127.0.0.1", "::1"} {
			ls = append(ls, relay.Listener{Network: n, Addr: net.JoinHostPort(ip, ports[n])})
		}
	}
	srv, err := relay.New(relay.Config{
		Listen: ls, TLSConfig: tc, Users: map[string]string{"alice": "right"}, TCPRelay: true,
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return bothFamilyURLs(ports[relay.NetworkTCP], ports[relay.NetworkTLS], ports[relay.NetworkDTLS]),
		&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// coturnBothFamilies starts a coturn (bin, or Debian's) listening on
// 127.0.0.1 and ::1 with TLS and DTLS, relaying from both families,
// loopback peers allowed.
func coturnBothFamilies(t *testing.T, bin string) ([]string, *tls.Config) {
	var extra []string
	if bin != "" {
		extra = []string{"--dtls"} // coturn 4.17 starts no DTLS listener without it
	}
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right"}, IPv6: true, RelayIPv6: true,
		TLS: true, DTLS: true, AllowLoopbackPeers: true, Bin: bin, Extra: extra})
	pem, err := os.ReadFile(c.CertFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	_, port, _ := net.SplitHostPort(c.Addr())
	_, tlsPort, _ := net.SplitHostPort(c.TLSAddr6())
	return bothFamilyURLs(port, tlsPort, tlsPort), &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}
