package audit_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/audit"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/reports"
)

func TestConfigErrors(t *testing.T) {
	stunSrv, err := iceconfig.ParseURL("stun:127.0.0.1:3478", "test")
	require.NoError(t, err)
	turnSrv := server(t, "turn:127.0.0.1:3478", testSecret)
	noCreds, err := iceconfig.ParseURL("turn:127.0.0.1:3478", "test")
	require.NoError(t, err)
	cases := []struct {
		name  string
		cfg   audit.Config
		kind  error
		field string
	}{
		{"stun url", audit.Config{Server: stunSrv}, audit.ErrNotTURN, "server"},
		{"no credentials", audit.Config{Server: noCreds}, audit.ErrConfig, "server"},
		{"sink not local", audit.Config{Server: turnSrv, Sink: "192.0.2.7:9"}, audit.ErrSinkNotLocal, "sink"},
		{"sink unspecified", audit.Config{Server: turnSrv, Sink: "0.0.0.0:9"}, audit.ErrSinkNotLocal, "sink"},
		{"sink not an address", audit.Config{Server: turnSrv, Sink: "sink"}, audit.ErrConfig, "sink"},
		{"too many allocations", audit.Config{Server: turnSrv, MaxAllocations: 1000}, audit.ErrConfig, "max-allocations"},
		{"idle wait too long", audit.Config{Server: turnSrv, IdleWait: time.Hour}, audit.ErrConfig, "idle-wait"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := audit.Run(context.Background(), tc.cfg)
			require.Nil(t, res)
			require.ErrorIs(t, err, audit.ErrConfig)
			require.ErrorIs(t, err, tc.kind)
			var ce *audit.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.field, ce.Field)
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	// A UDP port nobody listens on: the audit stops with that cause, having
	// sent only its retransmissions there.
	port := externaltest.FreeUDPPort(t, "127.0.0.1")
	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, "turn:127.0.0.1:"+strconv.Itoa(port), testSecret), Timeout: 300 * time.Millisecond, IdleWait: 200 * time.Millisecond, IdleConns: 1})
	var se *audit.StopError
	require.ErrorAs(t, err, &se)
	require.ErrorIs(t, err, audit.ErrUnreachable)
	require.Equal(t, audit.CauseUnreachable, res.Cause)
	require.Contains(t, res.Diagnosis(), "no answer from 127.0.0.1:"+strconv.Itoa(port))
	rep := res.Report(audit.SeverityMedium)
	require.Equal(t, reports.VerdictError, rep.Verdict)
	for dest := range res.Sent.To {
		require.Equal(t, "127.0.0.1:"+strconv.Itoa(port), dest)
	}
}

func TestWrongCredentialsStopTheAudit(t *testing.T) {
	udp, _ := startRelay(t, relayConfig())
	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, "turn:"+udp, "not-the-secret"), IdleWait: 200 * time.Millisecond, IdleConns: 1})
	require.ErrorIs(t, err, audit.ErrUnauthorized)
	require.Equal(t, audit.CauseUnauthorized, res.Cause)
	require.Contains(t, res.Diagnosis(), "401")
	// The unauthenticated checks that ran before are kept.
	require.Equal(t, audit.VerdictPass, byID(res)["unauthenticated-allocate"].Verdict)
	_, ranPeers := byID(res)["peer/127.0.0.1"]
	require.False(t, ranPeers, "no allocation, so no peer checks")
}

// TestStreamsAndTLS audits turn:?transport=tcp and turns: against natkit
// relay: every exchange runs over the stream, and the TLS check judges
// the certificate against the given roots.
func TestStreamsAndTLS(t *testing.T) {
	cert, pem := certFor(t, 90*24*time.Hour)
	port := externaltest.FreePortPair(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1))
	cfg := relayConfig()
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	startRelayOn(t, cfg, "tcp://"+addr, "tls://"+tlsAddr)

	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, "turn:"+addr+"?transport=tcp", testSecret), IdleWait: 500 * time.Millisecond})
	require.NoError(t, err)
	logFindings(t, res)
	require.Equal(t, audit.VerdictPass, byID(res)["unauthenticated-allocate"].Verdict)
	require.Equal(t, audit.VerdictPass, byID(res)["peer/127.0.0.1"].Verdict)
	require.Contains(t, byID(res)["amplification"].Message, "a stream cannot be reflected")

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	res, err = audit.Run(context.Background(), audit.Config{Server: server(t, "turns:"+tlsAddr, testSecret), RootCAs: roots, IdleWait: 500 * time.Millisecond})
	require.NoError(t, err)
	logFindings(t, res)
	tc := byID(res)["tls"]
	require.Equal(t, audit.VerdictPass, tc.Verdict, tc.Message)
	require.Contains(t, tc.Message, "TLS 1.2 and TLS 1.3 only")
	require.Equal(t, audit.VerdictPass, byID(res)["peer/169.254.169.254"].Verdict)

	// Without the roots, the self-signed certificate is the finding.
	res, err = audit.Run(context.Background(), audit.Config{Server: server(t, "turns:"+tlsAddr, testSecret), IdleWait: 500 * time.Millisecond})
	require.NoError(t, err)
	tc = byID(res)["tls"]
	require.Equal(t, audit.VerdictFinding, tc.Verdict)
	require.Equal(t, audit.SeverityMedium, tc.Severity)
	require.Contains(t, tc.Message, "does not verify for 127.0.0.1")
}

func TestFailOnSetsTheVerdict(t *testing.T) {
	// Deny explicitly what older natkit relays let through, so the only
	// findings left are below high.
	cfg := relayConfig()
	for _, p := range []string{"::ffff:0:0:0/96", "192.0.0.0/24", "198.18.0.0/15", "fec0::/10"} {
		cfg.PeerPolicy.Deny = append(cfg.PeerPolicy.Deny, netip.MustParsePrefix(p))
	}
	udp, _ := startRelay(t, cfg)
	res, err := audit.Run(context.Background(), audit.Config{Server: server(t, "turn:"+udp, testSecret), IdleWait: 200 * time.Millisecond, IdleConns: 1})
	require.NoError(t, err)
	// The quota probe is a low finding on a relay without --user-quota.
	require.Equal(t, audit.VerdictFinding, byID(res)["quota"].Verdict)
	require.Equal(t, reports.VerdictFail, res.Report(audit.SeverityLow).Verdict)
	high := res.Report(audit.SeverityHigh)
	require.Equal(t, reports.VerdictPass, high.Verdict, "warnings pass the run")
	for _, c := range high.Checks {
		if c.ID == "quota" {
			require.Equal(t, reports.VerdictWarn, c.Verdict)
			require.Contains(t, c.Message, "user-quota")
		}
	}
	require.NotEmpty(t, high.Tables)
}

// certFor makes a self-signed certificate for 127.0.0.1 valid for d, and
// its PEM.
func certFor(t *testing.T, d time.Duration) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "natkit audit test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(d),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
