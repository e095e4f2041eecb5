package gather

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
)

// Issue 13 #1: with --total-quota=1 coturn answers 486 to a user that
// holds nothing, because someone else holds the server's one allocation.
// The verdict must not blame the user's own quota, and it must say that
// natkit's probe held no allocation at the time.
func TestCoturnTotalQuotaIsNotBlamedOnTheUser(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right", "bob:other"}, Extra: []string{"--total-quota", "1"}})
	holdAllocation(t, c.Addr(), "bob", "other")

	res, err := Run(context.Background(), Config{Servers: servers(t, "alice", "right", "turn:"+c.Addr()), Timeout: 3 * time.Second})
	require.NoError(t, err)
	s := res.Servers[0]
	require.Equal(t, CauseQuota, s.Cause, s.Diagnosis)
	assert.Contains(t, s.Diagnosis, "the user's quota or the server's total quota")
	assert.Contains(t, s.Diagnosis, "natkit held no allocation")
	assert.NotContains(t, s.Diagnosis, "this user already has as many allocations as the server allows")
}

// holdAllocation allocates as user and keeps the allocation until the test
// ends.
func holdAllocation(t *testing.T, server, user, pass string) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	client, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Conn: pc, Username: user, Password: pass, Realm: "natkit"})
	require.NoError(t, err)
	require.NoError(t, client.Listen())
	relayConn, err := client.Allocate()
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = relayConn.Close()
		client.Close()
		_ = pc.Close()
	})
}

// Issue 13 #2: coturn --stun-only answers Binding requests and drops
// Allocates. The TURN verdict must say so, not "nothing listens there".
func TestCoturnSTUNOnlyTURNVerdict(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right"}, Extra: []string{"--stun-only"}})
	res, err := Run(context.Background(), Config{
		Servers: servers(t, "alice", "right", "stun:"+c.Addr(), "turn:"+c.Addr()),
		// The default Binding schedule: coturn's UDP socket may open a
		// little after the TCP one that StartCoturn waits for.
		Timeout: 2 * time.Second, TURNRTO: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	assert.Equal(t, CauseSTUNOK, res.Servers[0].Cause, res.Servers[0].Diagnosis)
	s := res.Servers[1]
	assert.Equal(t, CauseTURNDisabled, s.Cause, s.Diagnosis)
	assert.Contains(t, s.Diagnosis, "STUN answers on this address but TURN Allocate gets no answer: TURN is disabled there, or a firewall drops only TURN")
	assert.NotContains(t, s.Diagnosis, "nothing listens there")
}

// Issue 13 #3: turns: to a port that speaks plain TURN over TCP (here
// coturn's listening port with TLS off) is "not TLS at all".
func TestTURNSToAPlainPortIsNotTLS(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right"}})
	res, err := Run(context.Background(), Config{Servers: servers(t, "alice", "right", "turns:"+c.Addr()), Timeout: 2 * time.Second})
	require.NoError(t, err)
	s := res.Servers[0]
	assert.Equal(t, CauseNotTLS, s.Cause, s.Diagnosis)
	assert.Contains(t, s.Diagnosis, "not TLS at all")
	assert.Contains(t, s.Diagnosis, "turn:"+c.Addr()+"?transport=tcp")
}

// A port that accepts TCP and answers neither TLS nor STUN is still "not
// TLS at all", without the STUN hint.
func TestTURNSToAPortThatResetsIsNotTLS(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			_, _ = conn.Read(buf)
			_, _ = conn.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			_ = conn.Close()
		}
	}()
	res, err := Run(context.Background(), Config{Servers: servers(t, "alice", "right", "turns:"+l.Addr().String()), Timeout: 2 * time.Second})
	require.NoError(t, err)
	s := res.Servers[0]
	assert.Equal(t, CauseNotTLS, s.Cause, s.Diagnosis)
	assert.Contains(t, s.Diagnosis, "not TLS at all")
	assert.NotContains(t, s.Diagnosis, "transport=tcp")
}

// Issue 13 #4: a healthy turns: (or turn:?transport=tcp) gather finishes
// when every server has answered, not after the timeout. pion's agent also
// sends a srflx Binding over UDP to every URL's host and port, which a
// TCP-only or TLS-only listener never answers; the gather must not wait for
// it. (pion's agent checks turns: certificates against the system roots
// only, so the relay here listens on plain TCP, which shows the same wait.)
func TestTCPOnlyTURNGatherCompletesWithoutWaitingForTheTimeout(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	srv, err := relay.New(relay.Config{
		Listen: []relay.Listener{{Network: relay.NetworkTCP, Addr: addr}}, Users: map[string]string{"alice": "right"},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	const timeout = 4 * time.Second
	res, err := Run(context.Background(), Config{
		Servers: servers(t, "alice", "right", "turn:"+addr+"?transport=tcp"), Timeout: timeout,
	})
	require.NoError(t, err)
	require.Equal(t, CauseTURNOK, res.Servers[0].Cause, res.Servers[0].Diagnosis)
	for name, g := range map[string]*Gather{"alone": res.Servers[0].Gather, "combined": res.Combined} {
		require.NotNil(t, g, name)
		assert.True(t, g.Complete, "%s: %s", name, g.Note)
		assert.True(t, g.Has("relay"), name)
		assert.Less(t, g.Duration, timeout/2, name)
	}
}

// Issue 13 #4 against coturn: turns: with a certificate the process trusts
// (see TestMain); coturn runs without DTLS, so nothing answers UDP on its
// TLS port, which is what pion's srflx Binding waited for.
func TestCoturnTURNSGatherCompletesWithoutWaitingForTheTimeout(t *testing.T) {
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Users: []string{"alice:right"}, TLS: true,
		Extra: []string{"--cert", trustedCert, "--pkey", trustedKey}})
	const timeout = 4 * time.Second
	url := fmt.Sprintf("turns:127.0.0.1:%d", c.TLSPort)
	res, err := Run(context.Background(), Config{Servers: servers(t, "alice", "right", url), Timeout: timeout})
	require.NoError(t, err)
	require.Equal(t, CauseTURNOK, res.Servers[0].Cause, res.Servers[0].Diagnosis)
	for name, g := range map[string]*Gather{"alone": res.Servers[0].Gather, "combined": res.Combined} {
		require.NotNil(t, g, name)
		assert.True(t, g.Complete, "%s: %s", name, g.Note)
		assert.True(t, g.Has("relay"), name)
		assert.Less(t, g.Duration, timeout/2, name)
	}
}

// Issue 13 #5: ICMP port unreachable is not "no answer".
func TestPortUnreachableIsWordedOnce(t *testing.T) {
	port := externaltest.FreeUDPPort(t, "127.0.0.1")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	res, err := Run(context.Background(), Config{Servers: servers(t, "alice", "right", "turn:"+addr, "stun:"+addr), Timeout: 2 * time.Second, Retransmit: fast})
	require.NoError(t, err)
	for _, s := range res.Servers {
		assert.Equal(t, CauseUnreachable, s.Cause, s.Diagnosis)
		assert.NotContains(t, s.Diagnosis, "no answer", s.Diagnosis)
		assert.Contains(t, s.Diagnosis, "ICMP port unreachable")
	}
}

// Issue 13 #5: a 442 gives the next step.
func TestUnsupportedTransportGivesTheNextStep(t *testing.T) {
	addr := startFakeTURN(t, 0, stun.CodeUnsupportedTransProto)
	res, err := Run(context.Background(), Config{Servers: servers(t, "alice", "right", "turn:"+addr), Timeout: 2 * time.Second, Retransmit: fast})
	require.NoError(t, err)
	s := res.Servers[0]
	assert.Equal(t, CauseErrorResponse, s.Cause, s.Diagnosis)
	assert.Contains(t, s.Diagnosis, "ask the operator to allow UDP relaying")
	assert.Contains(t, s.Diagnosis, fmt.Sprintf("turn:%s?transport=tcp", addr))
}

// A plain STUN/TURN port that holds the connection on a ClientHello (coturn
// sometimes waits for the rest of what it reads as a STUN message) is
// still "not TLS at all", found by a Binding over plain TCP; a port that
// holds it and answers nothing stays a handshake timeout.
func TestTURNSHandshakeTimeout(t *testing.T) {
	for _, answersSTUN := range []bool{true, false} {
		t.Run(fmt.Sprintf("answers STUN %v", answersSTUN), func(t *testing.T) {
			addr := holdingTCPServer(t, answersSTUN)
			res, err := Run(context.Background(), Config{Servers: servers(t, "alice", "right", "turns:"+addr), Timeout: time.Second})
			require.NoError(t, err)
			s := res.Servers[0]
			if answersSTUN {
				assert.Equal(t, CauseNotTLS, s.Cause, s.Diagnosis)
				assert.Contains(t, s.Diagnosis, "not TLS at all")
				assert.Contains(t, s.Diagnosis, "turn:"+addr+"?transport=tcp")
			} else {
				assert.Equal(t, CauseTLS, s.Cause, s.Diagnosis)
				assert.Contains(t, s.Diagnosis, "the handshake timed out")
			}
		})
	}
}

// holdingTCPServer never answers a TLS ClientHello (it keeps the
// connection open) and, if answersSTUN, answers a STUN Binding request.
func holdingTCPServer(t *testing.T, answersSTUN bool) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		_ = l.Close()
		close(done)
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			go func() {
				buf := make([]byte, 1500)
				n, err := conn.Read(buf)
				if err != nil || !answersSTUN || n < 20 || buf[0] == 0x16 {
					<-done
					return
				}
				req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
				if req.Decode() != nil {
					return
				}
				a := conn.RemoteAddr().(*net.TCPAddr)
				resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess, &stun.XORMappedAddress{IP: a.IP, Port: a.Port}, stun.Fingerprint)
				if err == nil {
					_, _ = conn.Write(resp.Raw)
				}
				<-done
			}()
		}
	}()
	return l.Addr().String()
}

// Issue 13 #13: an expiry long past reads as people read it, not as
// "54424h15m59s ago".
func TestExpiredRESTUsernameSaysHowLongAgoReadably(t *testing.T) {
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	// 1,000,000,000 is 2001-09-09.
	res, err := Run(context.Background(), Config{Servers: servers(t, "1000000000:alice", "pw", "turn:127.0.0.1:3478"), Now: func() time.Time { return now }})
	require.NoError(t, err)
	s := res.Servers[0]
	require.Equal(t, CauseExpired, s.Cause, s.Diagnosis)
	assert.Contains(t, s.Diagnosis, "(25.2 years ago)")
}
