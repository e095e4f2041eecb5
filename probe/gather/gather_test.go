package gather

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/vnet"
	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natkit/natkit/internal/vnettest"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/probe/natbehavior"
	"github.com/natkit/natkit/relay"
)

// trustedCert and trustedKey are a certificate for 127.0.0.1 that this
// test process trusts as a system root (SSL_CERT_FILE, set before anything
// loads the roots): pion's ICE agent checks turns: servers against the
// system roots only, so a healthy turns: gather needs one.
var trustedCert, trustedKey string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natkit-gather-roots")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	trustedCert, trustedKey, err = writeCert(dir)
	if err == nil {
		err = os.Setenv("SSL_CERT_FILE", trustedCert)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// writeCert writes a self-signed ECDSA certificate for 127.0.0.1 and its
// key into dir.
func writeCert(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(11), Subject: pkix.Name{CommonName: "natkit gather test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

var fast = natbehavior.Retransmit{RTO: 50 * time.Millisecond, Budget: 400 * time.Millisecond}

func startRelay(t *testing.T, n transport.Net, ip string, mod func(*relay.Config)) *relay.Server {
	t.Helper()
	cfg := relay.Config{Net: n, Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: ip + ":3478"}},
		Users: map[string]string{"alice": "right"}, Secrets: []string{"north"}}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := relay.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func servers(t *testing.T, user, pass string, urls ...string) iceconfig.Servers {
	t.Helper()
	var out iceconfig.Servers
	for i, u := range urls {
		s, err := iceconfig.ParseURL(u, fmt.Sprintf("argument %d", i+1))
		require.NoError(t, err)
		if s.IsTURN() {
			s.Username, s.Credential = user, pass
		}
		out = append(out, s)
	}
	return out
}

func TestGatherVNet(t *testing.T) {
	restUser, restPass, err := turn.GenerateLongTermTURNRESTCredentials("north", "ci", time.Hour)
	require.NoError(t, err)
	expUser, expPass, err := turn.GenerateLongTermTURNRESTCredentials("north", "ci", -time.Hour)
	require.NoError(t, err)
	tests := []struct {
		name      string
		nat       *vnet.NATType
		servers   iceconfig.Servers
		relayMod  func(*relay.Config)
		preAlloc  bool
		policy    Policy
		causes    []Cause
		codes     []int
		relay     bool
		srflx     bool
		varies    bool
		diagnosis string
	}{
		{name: "right credentials", nat: &vnet.NATType{}, servers: servers(t, "alice", "right", "stun:1.2.3.4:3478", "turn:1.2.3.4:3478"),
			causes: []Cause{CauseSTUNOK, CauseTURNOK}, relay: true, srflx: true, diagnosis: "TURN OK: relay address 1.2.3.4:"},
		{name: "wrong password", nat: &vnet.NATType{}, servers: servers(t, "alice", "wrong", "turn:1.2.3.4:3478"),
			causes: []Cause{CauseUnauthorized}, codes: []int{401}, srflx: true, diagnosis: "401 Unauthorized: wrong username or password"},
		{name: "rest credentials", nat: &vnet.NATType{}, servers: servers(t, restUser, restPass, "turn:1.2.3.4:3478"),
			causes: []Cause{CauseTURNOK}, relay: true, srflx: true},
		{name: "expired rest username", nat: &vnet.NATType{}, servers: servers(t, expUser, expPass, "turn:1.2.3.4:3478"),
			causes: []Cause{CauseExpired}, diagnosis: "REST username already expired"},
		{name: "no stun server", nat: &vnet.NATType{}, servers: servers(t, "", "", "stun:1.2.3.99:3478"),
			causes: []Cause{CauseNoAnswer}, diagnosis: "STUN no answer: timeout after"},
		{name: "dns failure", nat: &vnet.NATType{}, servers: servers(t, "", "", "stun:nowhere.example:3478"),
			causes: []Cause{CauseDNS}, diagnosis: "DNS failure: cannot resolve nowhere.example"},
		{name: "no turn server", nat: &vnet.NATType{}, servers: servers(t, "alice", "right", "turn:1.2.3.99:3478"),
			causes: []Cause{CauseNoAnswer}, diagnosis: "TURN no answer: timeout after"},
		{name: "quota reached", nat: &vnet.NATType{}, servers: servers(t, "alice", "right", "turn:1.2.3.4:3478"), preAlloc: true,
			relayMod: func(c *relay.Config) { c.UserQuota = 1 }, causes: []Cause{CauseQuota}, codes: []int{486}, srflx: true, diagnosis: "486 Allocation Quota Reached"},
		{name: "insufficient capacity", nat: &vnet.NATType{}, servers: servers(t, "alice", "right", "turn:1.2.3.4:3478"), preAlloc: true,
			relayMod: func(c *relay.Config) { c.MaxAllocations = 1 }, causes: []Cause{CauseCapacity}, codes: []int{508}, srflx: true, diagnosis: "508 Insufficient Capacity"},
		{name: "relay policy", nat: &vnet.NATType{}, servers: servers(t, "alice", "right", "stun:1.2.3.4:3478", "turn:1.2.3.4:3478"), policy: PolicyRelay,
			causes: []Cause{CauseSTUNOK, CauseTURNOK}, relay: true},
		{name: "symmetric NAT: srflx differs per server", nat: &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent},
			servers: servers(t, "", "", "stun:1.2.3.4:3478", "stun:1.2.3.5:3478"), causes: []Cause{CauseSTUNOK, CauseSTUNOK}, srflx: true, varies: true},
		{name: "cone NAT: srflx same for every server", nat: &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent},
			servers: servers(t, "", "", "stun:1.2.3.4:3478", "stun:1.2.3.5:3478"), causes: []Cause{CauseSTUNOK, CauseSTUNOK}, srflx: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := vnettest.ClientServer(t, tt.nat)
			startRelay(t, tp.Server, "1.2.3.4", tt.relayMod)
			startRelay(t, tp.Server, "1.2.3.5", nil)
			if tt.preAlloc {
				preAllocate(t, tp.Client, "1.2.3.4:3478", "alice", "right")
			}
			res, err := Run(context.Background(), Config{Net: tp.Client, Servers: tt.servers, Policy: tt.policy, Timeout: 2 * time.Second, Retransmit: fast, TURNRTO: 50 * time.Millisecond})
			require.NoError(t, err)
			require.Len(t, res.Servers, len(tt.causes))
			for i, c := range tt.causes {
				assert.Equal(t, c, res.Servers[i].Cause, res.Servers[i].Diagnosis)
				if tt.codes != nil {
					assert.Equal(t, tt.codes[i], res.Servers[i].ErrorCode)
				}
			}
			if tt.diagnosis != "" {
				assert.Contains(t, res.Servers[len(res.Servers)-1].Diagnosis, tt.diagnosis)
			}
			assert.Equal(t, tt.relay, res.HasCandidate("relay"), "relay candidate; %+v", res.Combined)
			assert.Equal(t, tt.srflx, res.HasCandidate("srflx"), "srflx candidate; %+v", res.Combined)
			assert.Equal(t, tt.varies, res.MappingVaries, "%v", res.Mappings)
			if tt.policy == PolicyRelay {
				assert.Zero(t, res.Combined.Count["host"])
			} else {
				assert.Positive(t, res.Combined.Count["host"])
			}
			for _, c := range res.Combined.Candidates {
				switch c.Type {
				case "relay":
					assert.Equal(t, "turn:1.2.3.4:3478", c.ServerURL)
					assert.Equal(t, "udp", c.RelayProtocol)
					assert.Equal(t, "1.2.3.4", c.Address)
				case "srflx":
					assert.NotEmpty(t, c.ServerURL)
					if tt.nat != nil {
						assert.Equal(t, "1.2.3.20", c.Address)
					}
				}
			}
			for i, s := range res.Servers {
				if s.Cause == CauseTURNOK {
					require.NotNil(t, s.Gather, "per-server gather %d", i)
					assert.True(t, s.Gather.Has("relay"))
					assert.Positive(t, s.Lifetime)
					assert.Equal(t, "1.2.3.20", hostOf(s.Public))
				}
			}
		})
	}
}

func hostOf(hp string) string {
	h, _, _ := net.SplitHostPort(hp)
	return h
}

// preAllocate holds one allocation for user until the test ends.
func preAllocate(t *testing.T, n transport.Net, server, user, pass string) {
	t.Helper()
	pc, err := n.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: server, Conn: pc, Username: user, Password: pass, Net: n, LoggerFactory: logging.NewDefaultLoggerFactory()})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	relayConn, err := c.Allocate()
	require.NoError(t, err)
	t.Cleanup(func() { _ = relayConn.Close(); c.Close(); _ = pc.Close() })
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"no servers", Config{}, "servers: at least one"},
		{"bad policy", Config{Servers: servers(t, "", "", "stun:1.2.3.4"), Policy: "some"}, "policy: want all or relay"},
		{"relay without turn", Config{Servers: servers(t, "", "", "stun:1.2.3.4"), Policy: PolicyRelay}, "relay policy needs"},
		{"turn without credentials", Config{Servers: servers(t, "", "", "turn:1.2.3.4")}, "turn server without credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			require.ErrorIs(t, err, ErrConfig)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}
