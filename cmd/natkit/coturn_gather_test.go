package main

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
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/gather"
	"github.com/natkit/natkit/probe/natbehavior"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and returns the
// certificate and key paths.
func selfSigned(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "natkit test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	cert, pkey := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(pkey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return cert, pkey
}

type coturn struct{ port, tlsPort int }

// startCoturn runs coturn on 127.0.0.1 and 127.0.0.2 (RFC 5780), with
// either a static user alice/right or a REST shared secret, and TLS with a
// self-signed certificate.
func startCoturn(t *testing.T, secret string) coturn {
	t.Helper()
	bin := externaltest.LookPath(t, "turnserver", "coturn")
	c := coturn{port: freePairPort(t), tlsPort: freePairPort(t)}
	cert, key := selfSigned(t)
	args := []string{"-n", "--listening-ip", "127.0.0.1", "--listening-ip", "127.0.0.2", "--relay-ip", "127.0.0.1",
		"--listening-port", fmt.Sprint(c.port), "--tls-listening-port", fmt.Sprint(c.tlsPort), "--cert", cert, "--pkey", key,
		"--no-dtls", "--no-cli", "--realm", "natkit", "--log-file", "stdout", "--pidfile", filepath.Join(t.TempDir(), "pid")}
	if secret != "" {
		args = append(args, "--use-auth-secret", "--static-auth-secret", secret)
	} else {
		args = append(args, "--lt-cred-mech", "--user", "alice:right")
	}
	externaltest.Start(t, bin, args...)
	externaltest.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", c.port), 5*time.Second)
	externaltest.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", c.tlsPort), 5*time.Second)
	return c
}

func TestGatherCoturn(t *testing.T) {
	static := startCoturn(t, "")
	rest := startCoturn(t, testSecret)
	expUser, expPass, err := turn.GenerateLongTermTURNRESTCredentials(testSecret, "ci", -time.Minute)
	require.NoError(t, err)
	expired := fmt.Sprintf(`{"iceServers":[{"urls":"turn:127.0.0.1:%d","username":%q,"credential":%q}]}`, rest.port, expUser, expPass)

	tests := []struct {
		name    string
		stdin   string
		args    []string
		code    int
		causes  []gather.Cause
		message string
	}{
		{name: "static user", args: []string{fmt.Sprintf("stun:127.0.0.1:%d", static.port), fmt.Sprintf("turn:127.0.0.1:%d", static.port), fmt.Sprintf("turn:127.0.0.1:%d?transport=tcp", static.port), "--user", "alice", "--credential", "right", "--expect", "relay"},
			code: 0, causes: []gather.Cause{gather.CauseSTUNOK, gather.CauseTURNOK, gather.CauseTURNOK}},
		{name: "use-auth-secret with --secret", args: []string{fmt.Sprintf("turn:127.0.0.1:%d", rest.port), "--secret", testSecret, "--expect", "relay"},
			code: 0, causes: []gather.Cause{gather.CauseTURNOK}},
		{name: "wrong password", args: []string{fmt.Sprintf("turn:127.0.0.1:%d", static.port), "--user", "alice", "--credential", "wrong", "--expect", "relay"},
			code: 1, causes: []gather.Cause{gather.CauseUnauthorized}, message: "401 Unauthorized: wrong username or password"},
		{name: "expired rest username", stdin: expired, args: []string{"--ice-servers", "-", "--expect", "relay"},
			code: 1, causes: []gather.Cause{gather.CauseExpired}, message: "REST username already expired"},
		{name: "turns with a self-signed certificate", args: []string{fmt.Sprintf("turns:127.0.0.1:%d", static.tlsPort), "--user", "alice", "--credential", "right", "--expect", "relay"},
			code: 1, causes: []gather.Cause{gather.CauseTLS}, message: "signed by an unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runWithStdin(t, tt.stdin, append([]string{"gather", "--format", "json", "--timeout", "5s"}, tt.args...)...)
			require.Equal(t, tt.code, code, "stderr: %s\nstdout: %s", stderr, out)
			rep, res := decodeGather(t, out)
			require.Len(t, res.Servers, len(tt.causes))
			for i, c := range tt.causes {
				assert.Equal(t, c, res.Servers[i].Cause, res.Servers[i].Diagnosis)
			}
			if tt.code == 0 {
				assert.True(t, res.HasCandidate("relay"))
			}
			if tt.message != "" {
				var msgs []string
				for _, c := range rep.Checks {
					msgs = append(msgs, c.Message)
				}
				assert.Contains(t, strings.Join(msgs, "\n"), tt.message)
			}
		})
	}
}

func TestNatCoturn(t *testing.T) {
	natdiscovery := externaltest.LookPath(t, "turnutils_natdiscovery", "coturn")
	c := startCoturn(t, "")
	code, out, stderr := runNatkit(t, context.Background(), "nat", "--server", fmt.Sprintf("127.0.0.1:%d", c.port), "--hairpin", "--format", "json")
	require.Equal(t, 0, code, stderr)
	_, res := decodeNat(t, out)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	theirs, err := externaltest.Run(ctx, natdiscovery, "-m", "-f", "-p", fmt.Sprint(c.port), "127.0.0.1")
	require.NoError(t, err, theirs)
	m := regexp.MustCompile(`NAT with (.+) Filtering`).FindStringSubmatch(theirs)
	require.NotNil(t, m, theirs)
	want := map[string]natbehavior.Filtering{"Endpoint Independent": natbehavior.FilteringEIF, "Address Dependent": natbehavior.FilteringADF, "Address and Port Dependent": natbehavior.FilteringAPDF}[m[1]]
	assert.Equal(t, want, res.Filtering)
	assert.Contains(t, theirs, "NAT with Endpoint Independent Mapping")
	assert.Equal(t, natbehavior.MappingNoNAT, res.Mapping, "loopback has no translation, which natdiscovery calls endpoint-independent")
	assert.True(t, res.RFC5780)
}

// freePairPort returns a port P such that P and P+1 are free for UDP and
// TCP on both 127.0.0.1 and 127.0.0.2, as coturn binds all of them for RFC
// 5780 (and TLS/DTLS alternate ports).
func freePairPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := externaltest.FreeUDPPort(t, "127.0.0.1")
		if p >= 65535 {
			continue
		}
		ok := true
		for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
			for _, port := range []int{p, p + 1} {
				addr := net.JoinHostPort(ip, fmt.Sprint(port))
				u, err := net.ListenPacket("udp4", addr)
				if err != nil {
					ok = false
					continue
				}
				u.Close()
				l, err := net.Listen("tcp4", addr)
				if err != nil {
					ok = false
					continue
				}
				l.Close()
			}
		}
		if ok {
			return p
		}
	}
	t.Fatal("no port pair free on 127.0.0.1 and 127.0.0.2")
	return 0
}
