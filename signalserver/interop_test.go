package signalserver_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/signalserver"
)

// startCoturn runs coturn's turnserver with use-auth-secret on 127.0.0.1.
func startCoturn(t *testing.T, secret string) string {
	t.Helper()
	c := externaltest.StartCoturn(t, externaltest.CoturnConfig{Secret: secret, Extra: []string{"--no-stun-backward-compatibility"}})
	return fmt.Sprintf("turn:%s?transport=udp", c.Addr())
}

// allocate runs a TURN Allocate with the credentials.
func allocate(t *testing.T, turnURL, username, password string) error {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(turnURL, "turn:"), "?transport=udp")
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: username, Password: password, RTO: 200 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Listen())
	relayConn, err := c.Allocate()
	if err != nil {
		return err
	}
	return relayConn.Close()
}

// TestICECredentialsInterop: the token endpoint's credentials allocate on
// coturn (use-auth-secret) and on natkit relay; credentials minted with
// another secret are refused.
func TestICECredentialsInterop(t *testing.T) {
	const secret = "interop-secret"
	relays := []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"coturn", func(t *testing.T) string { return startCoturn(t, secret) }},
		{"natkit relay", func(t *testing.T) string { return startRelay(t, secret) }},
	}
	for _, r := range relays {
		t.Run(r.name, func(t *testing.T) {
			turnURL := r.start(t)
			for _, tc := range []struct {
				secret string
				ok     bool
			}{{secret, true}, {"some-other-secret", false}} {
				c := memoryHub().instances(t, 1, signalserver.Config{TURNSecrets: []string{tc.secret}, TURNURLs: []string{turnURL}})
				resp, body := get(t, c.https[0].URL+"/v1/ice-servers?user=interop", nil)
				require.Equal(t, 200, resp.StatusCode, body)
				var creds signalserver.ICECredentials
				require.NoError(t, json.Unmarshal([]byte(body), &creds))
				err := allocate(t, turnURL, creds.Username, creds.Password)
				if tc.ok {
					require.NoError(t, err, "allocate with the endpoint's credentials")
				} else {
					require.Error(t, err, "allocate with credentials from another secret")
					require.Contains(t, err.Error(), "401")
				}
			}
		})
	}
}
