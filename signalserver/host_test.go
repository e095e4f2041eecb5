package signalserver_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/signalserver"
)

// hostGet sends a GET whose Host header differs from the address dialed,
// as a browser does after a DNS rebinding of evil.example to loopback.
func hostGet(t *testing.T, url, host string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestDNSRebindingHostRefused(t *testing.T) {
	uris := []string{"turn:127.0.0.1:3478"}
	c := memoryHub().instances(t, 1, signalserver.Config{TURNSecrets: []string{"s"}, TURNURLs: uris, TokenTTL: 10 * time.Minute})
	base := c.https[0].URL
	port := base[strings.LastIndex(base, ":")+1:]
	ws := map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}

	// Host = Origin = evil.example: same-origin to the browser, so only the
	// Host check stands between the page and the credentials.
	evil := "evil.example:" + port
	code, body := hostGet(t, base+"/v1/ice-servers", evil, map[string]string{"Origin": "http://" + evil})
	require.Equal(t, http.StatusMisdirectedRequest, code, body)
	require.Contains(t, body, "host evil.example:"+port+" is not allowed")
	require.Contains(t, body, "--allowed-origin")
	code, body = hostGet(t, base+"/v1/ice-servers", evil, nil)
	require.Equal(t, http.StatusMisdirectedRequest, code, body)
	wsHdr := map[string]string{"Origin": "http://" + evil}
	for k, v := range ws {
		wsHdr[k] = v
	}
	code, body = hostGet(t, base+"/ws", evil, wsHdr)
	require.Equal(t, http.StatusMisdirectedRequest, code, body)

	// Loopback names and addresses still work.
	for _, h := range []string{"localhost:" + port, "127.0.0.1:" + port, "app.localhost:" + port} {
		code, body = hostGet(t, base+"/v1/ice-servers", h, nil)
		require.Equal(t, http.StatusOK, code, "%s: %s", h, body)
	}
}

func TestHostOfAllowedOriginAccepted(t *testing.T) {
	c := memoryHub().instances(t, 1, signalserver.Config{TURNSecrets: []string{"s"}, TURNURLs: []string{"turn:127.0.0.1:3478"}, AllowedOrigins: []string{"https://*.example.com"}})
	base := c.https[0].URL
	code, body := hostGet(t, base+"/v1/ice-servers", "signal.example.com", nil)
	require.Equal(t, http.StatusOK, code, body)
	code, body = hostGet(t, base+"/v1/ice-servers", "evil.example", nil)
	require.Equal(t, http.StatusMisdirectedRequest, code, body)
}

// With room tokens, a rebinding page cannot join or mint without a token:
// the Host check stays out of the way of deployments behind any name.
func TestHostNotCheckedWithAuthSecret(t *testing.T) {
	c := memoryHub().instances(t, 1, signalserver.Config{AuthSecret: "auth", TURNSecrets: []string{"s"}, TURNURLs: []string{"turn:127.0.0.1:3478"}})
	code, body := hostGet(t, c.https[0].URL+"/v1/ice-servers", "signal.internal", nil)
	require.Equal(t, http.StatusUnauthorized, code, body)
}
