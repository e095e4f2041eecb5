package externaltest

import (
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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// AltIP is the second loopback address that RFC 5780 tests listen on.
const AltIP = "127.0.0.2"

// CoturnConfig says how to run coturn's turnserver for a test. It always
// listens on 127.0.0.1 with UDP and TCP, and relays from 127.0.0.1.
type CoturnConfig struct {
	// Realm; default "natkit".
	Realm string
	// Secret turns on use-auth-secret (TURN REST credentials).
	Secret string
	// Users are static long-term users "name:password" (lt-cred-mech).
	Users []string
	// RFC5780 also listens on AltIP, which turns on coturn's RFC 5780
	// support; the alternate port is Port+1.
	RFC5780 bool
	// TLS listens for turns: on TLSPort with a self-signed certificate.
	TLS bool
	// DTLS also serves TURN over DTLS on TLSPort (coturn's
	// tls-listening-port serves both); it implies TLS. Default false.
	DTLS bool
	// AllowLoopbackPeers lets allocations relay to 127.0.0.0/8.
	AllowLoopbackPeers bool
	// IPv6 also listens on ::1 (Addr6), same ports. Default false.
	IPv6 bool
	// RelayIPv6 also relays from ::1, so Allocates asking for IPv6
	// (REQUESTED-ADDRESS-FAMILY) succeed; without it they get 440.
	// Default false.
	RelayIPv6 bool
	// Extra arguments, e.g. "--user-quota", "2".
	Extra []string
	// Bin is the turnserver to run. Default: Debian's, from PATH (see
	// LatestCoturnBin for upstream coturn).
	Bin string
}

// Coturn is a running turnserver.
type Coturn struct {
	Port    int
	TLSPort int
	// CertFile is the PEM certificate served on TLSPort (TLS or DTLS).
	CertFile string
	*Process
}

// Addr is the UDP/TCP listening address, 127.0.0.1:Port.
func (c *Coturn) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)) }

// Addr6 is the IPv6 listening address, [::1]:Port (CoturnConfig.IPv6).
func (c *Coturn) Addr6() string { return net.JoinHostPort("::1", strconv.Itoa(c.Port)) }

// TLSAddr6 is the IPv6 TLS/DTLS listening address, [::1]:TLSPort
// (CoturnConfig.IPv6 and TLS or DTLS).
func (c *Coturn) TLSAddr6() string { return net.JoinHostPort("::1", strconv.Itoa(c.TLSPort)) }

// StartCoturn starts turnserver (skipping, or failing under
// NATKIT_REQUIRE_EXTERNAL=1, when coturn is not installed), waits until it
// accepts connections and stops it in t.Cleanup.
func StartCoturn(t testing.TB, cfg CoturnConfig) *Coturn {
	t.Helper()
	bin := cfg.Bin
	if bin == "" {
		bin = LookPath(t, "turnserver", "coturn")
	}
	if cfg.Realm == "" {
		cfg.Realm = "natkit"
	}
	c := &Coturn{}
	ips := []string{"127.0.0.1"}
	if cfg.RFC5780 {
		ips = append(ips, AltIP)
	}
	if cfg.IPv6 {
		ips = append(ips, "::1")
	}
	// RFC 5780 and TLS alternate ports are the listening port + 1.
	c.Port = FreePortPair(t, ips...)
	dir := t.TempDir()
	args := []string{"-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
		"--listening-port", strconv.Itoa(c.Port), "--realm", cfg.Realm,
		"--no-cli", "--log-file", "stdout",
		"--pidfile", filepath.Join(dir, "turnserver.pid"), "--userdb", filepath.Join(dir, "turndb")}
	if cfg.RFC5780 {
		args = append(args, "--listening-ip", AltIP)
	}
	if cfg.IPv6 {
		args = append(args, "--listening-ip", "::1")
	}
	if cfg.RelayIPv6 {
		args = append(args, "--relay-ip", "::1")
	}
	if !cfg.DTLS {
		args = append(args, "--no-dtls")
	}
	if cfg.TLS || cfg.DTLS {
		c.TLSPort = FreePortPair(t, ips...)
		cert, key := SelfSignedCert(t, dir)
		c.CertFile = cert
		args = append(args, "--tls-listening-port", strconv.Itoa(c.TLSPort), "--cert", cert, "--pkey", key)
	}
	if !cfg.TLS {
		args = append(args, "--no-tls")
	}
	if cfg.Secret != "" {
		args = append(args, "--use-auth-secret", "--static-auth-secret", cfg.Secret)
	}
	if len(cfg.Users) > 0 {
		args = append(args, "--lt-cred-mech")
		for _, u := range cfg.Users {
			args = append(args, "--user", u)
		}
	}
	if cfg.AllowLoopbackPeers {
		args = append(args, "--allow-loopback-peers")
	}
	args = append(args, cfg.Extra...)
	c.Process = Start(t, bin, args...)
	WaitTCP(t, c.Addr(), 10*time.Second)
	// The UDP listener may come up after the TCP one: a test's first
	// Allocate would meet ICMP port unreachable.
	waitUDPBinding(t, c.Addr(), 10*time.Second)
	if cfg.TLS {
		WaitTCP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.TLSPort)), 10*time.Second)
	}
	if cfg.DTLS {
		// coturn answers plain STUN on its DTLS port too: a Binding
		// answered there means the UDP listener is up.
		waitUDPBinding(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.TLSPort)), 10*time.Second)
	}
	return c
}

// FreePortPair returns a port P such that P and P+1 are free for UDP and
// TCP on every ip (RFC 5780 servers use the port after their own).
func FreePortPair(t testing.TB, ips ...string) int {
	t.Helper()
	if len(ips) == 0 {
		ips = []string{"127.0.0.1"}
	}
	for range 100 {
		p := FreeUDPPort(t, ips[0])
		if p >= 65535 {
			continue
		}
		if portsFree(ips, p, p+1) {
			return p
		}
	}
	t.Fatalf("no free port pair on %v", ips)
	return 0
}

func portsFree(ips []string, ports ...int) bool {
	for _, ip := range ips {
		for _, p := range ports {
			addr := net.JoinHostPort(ip, strconv.Itoa(p))
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				return false
			}
			u.Close()
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return false
			}
			l.Close()
		}
	}
	return true
}

// SelfSignedCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost into dir and returns the certificate and key file paths.
func SelfSignedCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "natkit test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(AltIP), net.ParseIP("::1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatalf("write %s: %v", certFile, err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatalf("write %s: %v", keyFile, err)
	}
	return certFile, keyFile
}

// String names the server in test logs.
func (c *Coturn) String() string { return fmt.Sprintf("turnserver on %s", c.Addr()) }

// LatestCoturnEnv overrides where LatestCoturnBin finds the upstream coturn
// script.
const LatestCoturnEnv = "NATKIT_COTURN_LATEST"

// LatestCoturnBin returns the turnserver of upstream coturn 4.17.1, from
// the script ../shared/peers/coturn-latest beside the repository (or
// $NATKIT_COTURN_LATEST), which prints its bin directory. It skips when the
// script is absent or fails: upstream coturn is an optional peer.
func LatestCoturnBin(t testing.TB) string {
	t.Helper()
	script := os.Getenv(LatestCoturnEnv)
	if script == "" {
		dir, err := os.Getwd()
		for err == nil {
			if _, serr := os.Stat(filepath.Join(dir, "go.mod")); serr == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				err = os.ErrNotExist
			}
			dir = parent
		}
		if err != nil {
			t.Skip("upstream coturn: no go.mod above the test directory")
		}
		script = filepath.Join(dir, "..", "shared", "peers", "coturn-latest")
	}
	if _, err := os.Stat(script); err != nil {
		t.Skipf("upstream coturn: %s not found (set %s to the coturn-latest script)", script, LatestCoturnEnv)
	}
	out, err := exec.Command(script).Output()
	if err != nil {
		t.Skipf("upstream coturn: %s failed: %v", script, err)
	}
	bin := filepath.Join(strings.TrimSpace(string(out)), "turnserver")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("upstream coturn: %s not found", bin)
	}
	return bin
}

// waitUDPBinding waits until a STUN Binding request to addr over UDP is
// answered.
func waitUDPBinding(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	// A Binding request: type 0x0001, length 0, the magic cookie and a
	// fixed transaction id.
	req := []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 'n', 'a', 't', 'k', 'i', 't', 'w', 'a', 'i', 't', '!', '!'}
	buf := make([]byte, 1500)
	err = WaitFor(timeout, func() bool {
		if _, err := conn.Write(req); err != nil {
			return false
		}
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		return err == nil && n >= 20 && buf[0] == 1 && buf[1] == 1
	})
	if err != nil {
		t.Fatalf("turnserver's udp listener on %s did not answer a Binding request: %v", addr, err)
	}
}
