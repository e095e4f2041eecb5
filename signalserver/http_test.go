package signalserver_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

// response is what a GET returned.
type response struct {
	StatusCode int
	Header     http.Header
}

func get(t *testing.T, url string, hdr map[string]string) (response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, resp.Header}, string(body)
}

func TestICEServersEndpoint(t *testing.T) {
	const secret = "turn-secret"
	uris := []string{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"}
	c := memoryHub().instances(t, 1, signalserver.Config{TURNSecrets: []string{secret, "old-secret"}, TURNURLs: uris, TokenTTL: 10 * time.Minute, TokenBurst: 2, TokenRatePerSecond: 0.001})
	base := c.https[0].URL

	resp, body := get(t, base+"/v1/ice-servers?user=alice", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	var creds signalserver.ICECredentials
	require.NoError(t, json.Unmarshal([]byte(body), &creds))
	expiry, user, ok := strings.Cut(creds.Username, ":")
	require.True(t, ok, creds.Username)
	require.Equal(t, "alice", user)
	exp, err := strconv.ParseInt(expiry, 10, 64)
	require.NoError(t, err)
	require.InDelta(t, time.Now().Add(10*time.Minute).Unix(), exp, 5)
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(creds.Username))
	require.Equal(t, base64.StdEncoding.EncodeToString(mac.Sum(nil)), creds.Password, "coturn use-auth-secret password")
	require.Equal(t, int64(600), creds.TTL)
	require.Equal(t, uris, creds.URIs)
	require.Equal(t, []protocol.ICEServer{{URLs: uris, Username: creds.Username, Credential: creds.Password}}, creds.ICEServers)
	require.Contains(t, body, `"ice_servers":[{"urls":[`)

	// CORS: localhost origins by default, others refused.
	resp, _ = get(t, base+"/v1/ice-servers", map[string]string{"Origin": "http://localhost:3000"})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "http://localhost:3000", resp.Header.Get("Access-Control-Allow-Origin"))
	resp, body = get(t, base+"/v1/ice-servers", map[string]string{"Origin": "https://evil.example"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "evil.example")
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))

	// Rate limit: the burst of 2 is spent (the refused origin did not count).
	resp, body = get(t, base+"/v1/ice-servers", nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, body)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))

	// joined carries ICE servers minted for the peer.
	ctx := ctxT(t)
	cl := c.dial(0)
	j, err := cl.Join(ctx, "r", client.JoinOptions{Peer: "bob"})
	require.NoError(t, err)
	require.Len(t, j.ICEServers, 1)
	require.True(t, strings.HasSuffix(j.ICEServers[0].Username, ":bob"), j.ICEServers[0].Username)
}

func TestICEServersErrors(t *testing.T) {
	c := memoryHub().instances(t, 1, signalserver.Config{})
	resp, body := get(t, c.https[0].URL+"/v1/ice-servers", nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, body, "--turn-secret")

	c2 := memoryHub().instances(t, 1, signalserver.Config{TURNSecrets: []string{"x"}, TURNURLs: []string{"turn:h:3478"}, AuthSecret: "auth"})
	resp, body = get(t, c2.https[0].URL+"/v1/ice-servers?user=a%20b", nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	resp, body = get(t, c2.https[0].URL+"/v1/ice-servers", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	tok, err := signalserver.NewRoomToken("auth", signalserver.RoomClaims{Room: "r", Expiry: time.Now().Add(time.Minute).Unix()})
	require.NoError(t, err)
	resp, body = get(t, c2.https[0].URL+"/v1/ice-servers", map[string]string{"Authorization": "Bearer " + tok})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name  string
		cfg   signalserver.Config
		field string
	}{
		{"capacity 1", signalserver.Config{RoomCapacity: 1}, "RoomCapacity"},
		{"secret without url", signalserver.Config{TURNSecrets: []string{"s"}}, "TURNURLs"},
		{"bad url", signalserver.Config{TURNSecrets: []string{"s"}, TURNURLs: []string{"http://x"}}, "TURNURLs"},
		{"ttl too long", signalserver.Config{TokenTTL: 25 * time.Hour}, "TokenTTL"},
		{"origin without scheme", signalserver.Config{AllowedOrigins: []string{"example.com"}}, "AllowedOrigins"},
		{"idle below heartbeat", signalserver.Config{IdleTimeout: time.Second, HeartbeatInterval: 2 * time.Second}, "IdleTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signalserver.NewServer(tc.cfg)
			var ce *signalserver.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.field, ce.Field)
		})
	}
}

func TestWebSocketOrigin(t *testing.T) {
	c := memoryHub().instances(t, 1, signalserver.Config{AllowedOrigins: []string{"https://app.example.com"}})
	cases := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"https://app.example.com", true},
		{"http://localhost:8080", false}, // only the listed origins (and same origin) once any is listed
		{"https://evil.example", false},
		{strings.Replace(c.https[0].URL, "127.0.0.1", "127.0.0.1", 1), true}, // same origin
	}
	for _, tc := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		cl, err := client.Dial(ctx, c.wsURL(0), &client.Options{Header: hdr})
		cancel()
		if tc.ok {
			require.NoError(t, err, tc.origin)
			require.NoError(t, cl.Close())
		} else {
			require.Error(t, err, tc.origin)
			require.Contains(t, err.Error(), "http 403")
		}
	}
}

func TestHealthAndMetrics(t *testing.T) {
	c := memoryHub().instances(t, 1, signalserver.Config{})
	ctx := ctxT(t)
	a, b := c.dial(0), c.dial(0)
	_, err := a.Join(ctx, "m", client.JoinOptions{Peer: "a"})
	require.NoError(t, err)
	_, err = b.Join(ctx, "m", client.JoinOptions{Peer: "b"})
	require.NoError(t, err)
	require.NoError(t, a.SendOffer(ctx, "b", "o"))
	recvType(t, b, protocol.TypeOffer)
	require.NoError(t, a.SendRaw(ctx, 1, []byte("nope")))
	recvType(t, a, protocol.TypePeerJoined)
	recvError(t, a, protocol.CodeBadMessage)

	resp, body := get(t, c.https[0].URL+"/healthz", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"status":"ok","connections":2,"rooms":1}`, body)

	resp, body = get(t, c.https[0].URL+"/metrics", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, want := range []string{
		"natkit_signal_connections 2",
		"natkit_signal_rooms 1",
		`natkit_signal_messages_relayed_total{type="offer"} 1`,
		`natkit_signal_errors_total{code="bad_message"} 1`,
		"natkit_signal_queued_messages 0",
		"natkit_signal_expired_messages_total 0",
	} {
		require.Contains(t, body, want)
	}
}

func TestWebPages(t *testing.T) {
	c := memoryHub().instances(t, 1, signalserver.Config{})
	for _, p := range []string{"/", "/gather.html", "/call.html", "/app.js"} {
		resp, body := get(t, c.https[0].URL+p, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		require.NotEmpty(t, body)
		require.NotContains(t, body, "https://cdn", "no CDN in %s", p)
	}
}
