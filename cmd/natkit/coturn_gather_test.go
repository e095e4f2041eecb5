package main

import (
	"context"
	"fmt"
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

// startCoturn runs coturn on 127.0.0.1 and 127.0.0.2 (RFC 5780), with
// either a static user alice/right or a REST shared secret, and TLS with a
// self-signed certificate.
func startCoturn(t *testing.T, secret string) *externaltest.Coturn {
	t.Helper()
	cfg := externaltest.CoturnConfig{Secret: secret, RFC5780: true, TLS: true}
	if secret == "" {
		cfg.Users = []string{"alice:right"}
	}
	return externaltest.StartCoturn(t, cfg)
}

func TestGatherCoturn(t *testing.T) {
	static := startCoturn(t, "")
	rest := startCoturn(t, testSecret)
	expUser, expPass, err := turn.GenerateLongTermTURNRESTCredentials(testSecret, "ci", -time.Minute)
	require.NoError(t, err)
	expired := fmt.Sprintf(`{"iceServers":[{"urls":"turn:127.0.0.1:%d","username":%q,"credential":%q}]}`, rest.Port, expUser, expPass)

	tests := []struct {
		name    string
		stdin   string
		args    []string
		code    int
		causes  []gather.Cause
		message string
	}{
		{name: "static user", args: []string{fmt.Sprintf("stun:127.0.0.1:%d", static.Port), fmt.Sprintf("turn:127.0.0.1:%d", static.Port), fmt.Sprintf("turn:127.0.0.1:%d?transport=tcp", static.Port), "--user", "alice", "--credential", "right", "--expect", "relay"},
			code: 0, causes: []gather.Cause{gather.CauseSTUNOK, gather.CauseTURNOK, gather.CauseTURNOK}},
		{name: "use-auth-secret with --secret", args: []string{fmt.Sprintf("turn:127.0.0.1:%d", rest.Port), "--secret", testSecret, "--expect", "relay"},
			code: 0, causes: []gather.Cause{gather.CauseTURNOK}},
		{name: "wrong password", args: []string{fmt.Sprintf("turn:127.0.0.1:%d", static.Port), "--user", "alice", "--credential", "wrong", "--expect", "relay"},
			code: 1, causes: []gather.Cause{gather.CauseUnauthorized}, message: "401 Unauthorized: wrong username or password"},
		{name: "expired rest username", stdin: expired, args: []string{"--ice-servers", "-", "--expect", "relay"},
			code: 1, causes: []gather.Cause{gather.CauseExpired}, message: "REST username already expired"},
		{name: "turns with a self-signed certificate", args: []string{fmt.Sprintf("turns:127.0.0.1:%d", static.TLSPort), "--user", "alice", "--credential", "right", "--expect", "relay"},
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
	code, out, stderr := runNatkit(t, context.Background(), "nat", "--server", fmt.Sprintf("127.0.0.1:%d", c.Port), "--hairpin", "--format", "json")
	require.Equal(t, 0, code, stderr)
	_, res := decodeNat(t, out)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	theirs, err := externaltest.Run(ctx, natdiscovery, "-m", "-f", "-p", fmt.Sprint(c.Port), "127.0.0.1")
	require.NoError(t, err, theirs)
	m := regexp.MustCompile(`NAT with (.+) Filtering`).FindStringSubmatch(theirs)
	require.NotNil(t, m, theirs)
	want := map[string]natbehavior.Filtering{"Endpoint Independent": natbehavior.FilteringEIF, "Address Dependent": natbehavior.FilteringADF, "Address and Port Dependent": natbehavior.FilteringAPDF}[m[1]]
	assert.Equal(t, want, res.Filtering)
	assert.Contains(t, theirs, "NAT with Endpoint Independent Mapping")
	assert.Equal(t, natbehavior.MappingNoNAT, res.Mapping, "loopback has no translation, which natdiscovery calls endpoint-independent")
	assert.True(t, res.RFC5780)
}
