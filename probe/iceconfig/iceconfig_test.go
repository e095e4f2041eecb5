package iceconfig

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw       string
		want      Server
		wantURL   string
		wantErr   error
		errSubstr string
	}{
		{raw: "stun:stun.l.google.com:19302", want: Server{Scheme: SchemeSTUN, Host: "stun.l.google.com", Port: 19302, Transport: TransportUDP}, wantURL: "stun:stun.l.google.com:19302"},
		{raw: "stun:example.org", want: Server{Scheme: SchemeSTUN, Host: "example.org", Port: 3478, Transport: TransportUDP}, wantURL: "stun:example.org:3478"},
		{raw: "turn:10.0.0.1:3478?transport=tcp", want: Server{Scheme: SchemeTURN, Host: "10.0.0.1", Port: 3478, Transport: TransportTCP, ExplicitTransport: true}, wantURL: "turn:10.0.0.1:3478?transport=tcp"},
		{raw: "turn:10.0.0.1?transport=udp", want: Server{Scheme: SchemeTURN, Host: "10.0.0.1", Port: 3478, Transport: TransportUDP, ExplicitTransport: true}, wantURL: "turn:10.0.0.1:3478?transport=udp"},
		{raw: "TURNS:relay.example.com", want: Server{Scheme: SchemeTURNS, Host: "relay.example.com", Port: 5349, Transport: TransportTCP}, wantURL: "turns:relay.example.com:5349"},
		{raw: "turns:relay.example.com:443?transport=tcp", want: Server{Scheme: SchemeTURNS, Host: "relay.example.com", Port: 443, Transport: TransportTCP, ExplicitTransport: true}, wantURL: "turns:relay.example.com:443"},
		{raw: "stun:[2001:db8::1]:3478", want: Server{Scheme: SchemeSTUN, Host: "2001:db8::1", Port: 3478, Transport: TransportUDP}, wantURL: "stun:[2001:db8::1]:3478"},
		{raw: "stun:[2001:db8::1]", want: Server{Scheme: SchemeSTUN, Host: "2001:db8::1", Port: 3478, Transport: TransportUDP}},
		{raw: "http://example.org", wantErr: ErrScheme, errSubstr: `invalid scheme "http"`},
		{raw: "stuns:example.org", wantErr: ErrScheme, errSubstr: "not supported"},
		{raw: "example.org:3478", wantErr: ErrScheme},
		{raw: "turn://example.org:3478", wantErr: ErrHost, errSubstr: `no "//"`},
		{raw: "turn:example.org:0", wantErr: ErrPort, errSubstr: `"0": want a number from 1 to 65535`},
		{raw: "turn:example.org:70000", wantErr: ErrPort},
		{raw: "turn:example.org:abc", wantErr: ErrPort},
		{raw: "turn:example.org:", wantErr: ErrPort},
		{raw: "turn:", wantErr: ErrHost},
		{raw: "turn::3478", wantErr: ErrHost},
		{raw: "turn:example.org?transport=sctp", wantErr: ErrTransport, errSubstr: `invalid transport "sctp": want udp or tcp`},
		{raw: "turn:example.org?foo=bar", wantErr: ErrTransport, errSubstr: `unknown query parameter "foo"`},
		{raw: "turns:example.org?transport=udp", want: Server{Scheme: SchemeTURNS, Host: "example.org", Port: 5349, Transport: TransportUDP, ExplicitTransport: true}, wantURL: "turns:example.org:5349?transport=udp"},
		{raw: "turns:[::1]:5349?transport=UDP", want: Server{Scheme: SchemeTURNS, Host: "::1", Port: 5349, Transport: TransportUDP, ExplicitTransport: true}, wantURL: "turns:[::1]:5349?transport=udp"},
		{raw: "stun:example.org?transport=udp", wantErr: ErrTransport, errSubstr: "takes no query"},
		{raw: "stun:2001:db8::1", wantErr: ErrHost, errSubstr: "brackets"},
		{raw: "stun:[2001:db8::1", wantErr: ErrHost},
		{raw: "stun:[nothex]:3478", wantErr: ErrHost},
		{raw: "turn:user@example.org", wantErr: ErrHost},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseURL(tt.raw, "argument 1")
			if tt.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tt.wantErr)
				var fe *FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, "argument 1", fe.Source)
				assert.Contains(t, err.Error(), "argument 1")
				assert.Contains(t, err.Error(), tt.errSubstr)
				return
			}
			require.NoError(t, err)
			tt.want.Source = "argument 1"
			assert.Equal(t, tt.want, got)
			if tt.wantURL != "" {
				assert.Equal(t, tt.wantURL, got.URL())
				// pion agrees on the canonical form.
				u, err := stun.ParseURI(got.URL())
				require.NoError(t, err)
				assert.Equal(t, got.Host, u.Host)
				assert.Equal(t, got.Port, u.Port)
				assert.Equal(t, got.Transport == TransportTCP, u.Proto == stun.ProtoTypeTCP)
			}
		})
	}
}

func TestParseForms(t *testing.T) {
	type srv struct {
		url, user, cred, source string
		ttl                     time.Duration
	}
	tests := []struct {
		file string
		want []srv
	}{
		{file: "rtcconfig.json", want: []srv{
			{url: "stun:stun.example.org:19302", source: "f: iceServers[0].urls"},
			{url: "turn:turn.example.org:3478?transport=udp", user: "alice", cred: "s3cret", source: "f: iceServers[1].urls[0]"},
			{url: "turn:turn.example.org:3478?transport=tcp", user: "alice", cred: "s3cret", source: "f: iceServers[1].urls[1]"},
			{url: "turns:turn.example.org:443", user: "alice", cred: "s3cret", source: "f: iceServers[1].urls[2]"},
		}},
		{file: "array.json", want: []srv{
			{url: "stun:198.51.100.1:3478", source: "f: [0].urls[0]"},
			{url: "turn:[2001:db8::1]:3479", user: "bob", cred: "pw", source: "f: [1].urls"},
		}},
		{file: "provider.json", want: []srv{
			{url: "stun:global.stun.example.com:3478", source: "f: ice_servers[0].urls", ttl: 24 * time.Hour},
			{url: "turn:global.turn.example.com:3478?transport=udp", user: "4f1c2e", cred: "w9k", source: "f: ice_servers[1].urls", ttl: 24 * time.Hour},
			{url: "turn:global.turn.example.com:443?transport=tcp", user: "4f1c2e", cred: "w9k", source: "f: ice_servers[2].url", ttl: 24 * time.Hour},
		}},
		{file: "wrapped.json", want: []srv{
			{url: "stun:eu.example.com:3478", source: "f: v.iceServers.urls[0]"},
			{url: "turn:eu.example.com:80?transport=udp", user: "u9", cred: "c9", source: "f: v.iceServers.urls[1]"},
			{url: "turns:eu.example.com:443", user: "u9", cred: "c9", source: "f: v.iceServers.urls[2]"},
		}},
		{file: "rest.json", want: []srv{
			{url: "turn:127.0.0.1:3478?transport=udp", user: "1900000000:carol", cred: "aGVsbG8=", source: "f: uris[0]", ttl: 24 * time.Hour},
			{url: "turn:127.0.0.1:3478?transport=tcp", user: "1900000000:carol", cred: "aGVsbG8=", source: "f: uris[1]", ttl: 24 * time.Hour},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			ss, err := Parse(data, "f")
			require.NoError(t, err)
			var got []srv
			for _, s := range ss {
				got = append(got, srv{url: s.URL(), user: s.Username, cred: s.Credential, source: s.Source, ttl: s.TTL})
			}
			assert.Equal(t, tt.want, got)
			require.NoError(t, ss.CheckCredentials())
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, input string
		wantErr     error
		field       string
		substr      string
	}{
		{name: "empty", input: "  ", wantErr: ErrJSON, substr: "empty"},
		{name: "syntax", input: "{\n\"iceServers\": [,]}", wantErr: ErrJSON, substr: "line 2 column"},
		{name: "trailing", input: `[{"urls":"stun:a"}] x`, wantErr: ErrJSON},
		{name: "scalar", input: `42`, wantErr: ErrShape},
		{name: "unknown object", input: `{"servers":[]}`, wantErr: ErrShape, substr: `found keys "servers"`},
		{name: "iceServers not array", input: `{"iceServers":"stun:a"}`, wantErr: ErrJSON, field: "iceServers"},
		{name: "empty list", input: `{"iceServers":[]}`, wantErr: ErrNoServers, field: "iceServers"},
		{name: "entry not object", input: `{"iceServers":["stun:a"]}`, wantErr: ErrJSON, field: "iceServers[0]"},
		{name: "no urls", input: `{"iceServers":[{"username":"u"}]}`, wantErr: ErrShape, field: "iceServers[0]"},
		{name: "urls number", input: `{"iceServers":[{"urls":5}]}`, wantErr: ErrJSON, field: "iceServers[0].urls", substr: "got a number"},
		{name: "urls element", input: `{"iceServers":[{"urls":["stun:a", true]}]}`, wantErr: ErrJSON, field: "iceServers[0].urls[1]"},
		{name: "bad url in list", input: `{"iceServers":[{"urls":["stun:a","turn:b?transport=sctp"]}]}`, wantErr: ErrTransport, field: "iceServers[0].urls[1]"},
		{name: "username type", input: `[{"urls":"turn:a","username":7,"credential":"c"}]`, wantErr: ErrJSON, field: "[0].username"},
		{name: "oauth credential", input: `[{"urls":"turn:a","username":"u","credential":{"macKey":"k"}}]`, wantErr: ErrJSON, field: "[0].credential"},
		{name: "credentialType", input: `[{"urls":"turn:a","username":"u","credential":"c","credentialType":"oauth"}]`, wantErr: ErrCredentialType, field: "[0].credentialType"},
		{name: "ttl bad string", input: `{"ice_servers":[{"url":"stun:a"}],"ttl":"a day"}`, wantErr: ErrTTL, field: "ttl"},
		{name: "ttl negative", input: `{"username":"u","password":"p","ttl":-5,"uris":["turn:a"]}`, wantErr: ErrTTL, field: "ttl"},
		{name: "ttl bool", input: `{"username":"u","password":"p","ttl":true,"uris":["turn:a"]}`, wantErr: ErrTTL, field: "ttl"},
		{name: "rest uris empty", input: `{"username":"u","password":"p","uris":[]}`, wantErr: ErrNoServers, field: "uris"},
		{name: "rest password type", input: `{"username":"u","password":1,"uris":["turn:a"]}`, wantErr: ErrJSON, field: "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input), "in.json")
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.wantErr)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "in.json", fe.Source)
			assert.Equal(t, tt.field, fe.Field)
			assert.Contains(t, err.Error(), tt.substr)
			assert.True(t, strings.HasPrefix(err.Error(), "in.json"), err.Error())
		})
	}
}

func TestConversions(t *testing.T) {
	ss, err := Parse([]byte(`{"iceServers":[{"urls":"stun:a.example:3478"},{"urls":["turn:b.example?transport=tcp","turns:b.example"],"username":"u","credential":"c"}]}`), "x")
	require.NoError(t, err)

	cfg := webrtc.Configuration{ICEServers: ss.WebRTC()}
	// webrtc accepts what we produce: a PeerConnection validates ICE servers.
	pc, err := webrtc.NewPeerConnection(cfg)
	require.NoError(t, err)
	require.NoError(t, pc.Close())
	assert.Equal(t, []webrtc.ICEServer{
		{URLs: []string{"stun:a.example:3478"}},
		{URLs: []string{"turn:b.example:3478?transport=tcp"}, Username: "u", Credential: "c", CredentialType: webrtc.ICECredentialTypePassword},
		{URLs: []string{"turns:b.example:5349"}, Username: "u", Credential: "c", CredentialType: webrtc.ICECredentialTypePassword},
	}, cfg.ICEServers)

	urls := ss.ICEURLs()
	require.Len(t, urls, 3)
	assert.Equal(t, stun.URI{Scheme: stun.SchemeTypeSTUN, Host: "a.example", Port: 3478, Proto: stun.ProtoTypeUDP}, *urls[0])
	assert.Equal(t, stun.URI{Scheme: stun.SchemeTypeTURN, Host: "b.example", Port: 3478, Proto: stun.ProtoTypeTCP, Username: "u", Password: "c"}, *urls[1])
	assert.Equal(t, stun.URI{Scheme: stun.SchemeTypeTURNS, Host: "b.example", Port: 5349, Proto: stun.ProtoTypeTCP, Username: "u", Password: "c"}, *urls[2])
	assert.Len(t, ss.TURN(), 2)
	assert.Len(t, ss.STUN(), 1)
}

func TestMintREST(t *testing.T) {
	user, pass, err := MintREST("sharedsecret", "", 0)
	require.NoError(t, err)
	exp, ok := RESTExpiry(user)
	require.True(t, ok)
	assert.WithinDuration(t, time.Now().Add(DefaultRESTTTL), exp, 2*time.Second)
	assert.True(t, strings.HasSuffix(user, ":"+DefaultRESTUser))

	// The password is what pion's REST auth handler (and coturn) derive.
	key, ok := turn.LongTermTURNRESTAuthHandler("sharedsecret", nil)(user, "realm", nil)
	require.True(t, ok)
	assert.Equal(t, turn.GenerateAuthKey(user, "realm", pass), key)

	_, _, err = MintREST("", "u", time.Hour)
	assert.ErrorIs(t, err, ErrSecret)
}

func TestRESTExpiry(t *testing.T) {
	tests := []struct {
		user string
		ok   bool
		unix int64
	}{
		{"1700000000:alice", true, 1700000000},
		{"1700000000", true, 1700000000},
		{"alice", false, 0},
		{"12345:alice", false, 0},
		{"17000000000000:alice", false, 0},
		{"abcdefghij:alice", false, 0},
		{"", false, 0},
	}
	for _, tt := range tests {
		exp, ok := RESTExpiry(tt.user)
		assert.Equal(t, tt.ok, ok, tt.user)
		if ok {
			assert.Equal(t, tt.unix, exp.Unix(), tt.user)
		}
	}
}

func TestCheckExpiry(t *testing.T) {
	now := time.Unix(1800000000, 0)
	mk := func(user string) Server {
		s, err := ParseURL("turn:127.0.0.1:3478", "argument 1")
		require.NoError(t, err)
		s.Username, s.Credential = user, "p"
		return s
	}
	err := mk("1799999000:bob").CheckExpiry(now)
	var ee *ExpiredError
	require.ErrorAs(t, err, &ee)
	assert.ErrorIs(t, err, ErrExpired)
	assert.Equal(t, "turn:127.0.0.1:3478: rest username \"1799999000:bob\" expired at 2027-01-15T07:43:20Z (16m40s ago); mint fresh credentials", err.Error())
	assert.NoError(t, mk("1800000100:bob").CheckExpiry(now))
	assert.NoError(t, mk("bob").CheckExpiry(now))
	stunSrv, err := ParseURL("stun:127.0.0.1", "a")
	require.NoError(t, err)
	assert.NoError(t, stunSrv.CheckExpiry(now))
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	noCreds := filepath.Join(dir, "nocreds.json")
	require.NoError(t, os.WriteFile(noCreds, []byte(`{"iceServers":[{"urls":["stun:127.0.0.1:3478","turn:127.0.0.1:3478"]}]}`), 0o600))
	rest, err := os.ReadFile("testdata/rest.json")
	require.NoError(t, err)
	provider, err := os.ReadFile("testdata/provider.json")
	require.NoError(t, err)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rest":
			_, _ = w.Write(rest)
		case "/denied":
			http.Error(w, `{"error":"bad api key"}`, http.StatusUnauthorized)
		case "/garbage":
			_, _ = w.Write([]byte("<html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name     string
		in       Input
		wantURLs []string
		check    func(t *testing.T, ss Servers)
		wantErr  error
		substr   string
	}{
		{name: "urls with user", in: Input{URLs: []string{"stun:127.0.0.1", "turn:127.0.0.1?transport=tcp"}, Username: "u", Credential: "c"},
			wantURLs: []string{"stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=tcp"},
			check: func(t *testing.T, ss Servers) {
				assert.Equal(t, "", ss[0].Username)
				assert.Equal(t, "u", ss[1].Username)
				assert.Equal(t, "c", ss[1].Credential)
				assert.Equal(t, "argument 2", ss[1].Source)
			}},
		{name: "turn url without credentials", in: Input{URLs: []string{"turn:127.0.0.1"}}, wantErr: ErrMissingCredentials, substr: "argument 1 \"turn:127.0.0.1:3478\": turn server without credentials: a username and a credential is needed"},
		{name: "user without credential", in: Input{URLs: []string{"turn:127.0.0.1"}, Username: "u"}, wantErr: ErrMissingCredentials, substr: "--user without --credential"},
		{name: "stun url needs nothing", in: Input{URLs: []string{"stun:127.0.0.1:1"}}, wantURLs: []string{"stun:127.0.0.1:1"}},
		{name: "nothing", in: Input{}, wantErr: ErrNoServers},
		{name: "secret", in: Input{URLs: []string{"turn:127.0.0.1"}, Secret: "s", RESTUser: "ci", RESTTTL: time.Hour},
			wantURLs: []string{"turn:127.0.0.1:3478"},
			check: func(t *testing.T, ss Servers) {
				assert.True(t, strings.HasSuffix(ss[0].Username, ":ci"))
				assert.WithinDuration(t, time.Now().Add(time.Hour), ss[0].Expires, 2*time.Second)
				assert.NoError(t, ss[0].CheckExpiry(time.Now()))
			}},
		{name: "secret expired", in: Input{URLs: []string{"turn:127.0.0.1"}, Secret: "s", RESTTTL: -time.Hour},
			check: func(t *testing.T, ss Servers) {
				assert.ErrorIs(t, ss[0].CheckExpiry(time.Now()), ErrExpired)
			}, wantURLs: []string{"turn:127.0.0.1:3478"}},
		{name: "secret applies to file", in: Input{File: noCreds, Secret: "s"}, wantURLs: []string{"stun:127.0.0.1:3478", "turn:127.0.0.1:3478"}},
		{name: "file without creds", in: Input{File: noCreds}, wantErr: ErrMissingCredentials, substr: "nocreds.json: iceServers[0].urls[1]"},
		{name: "secret without turn", in: Input{URLs: []string{"stun:127.0.0.1"}, Secret: "s"}, wantErr: ErrSecret},
		{name: "secret and user", in: Input{URLs: []string{"turn:127.0.0.1"}, Secret: "s", Username: "u", Credential: "c"}, wantErr: ErrConflict},
		{name: "rest ttl without secret", in: Input{URLs: []string{"turn:127.0.0.1"}, Username: "u", Credential: "c", RESTTTL: time.Hour}, wantErr: ErrConflict},
		{name: "stdin", in: Input{File: "-", Stdin: strings.NewReader(string(provider))}, wantURLs: []string{"stun:global.stun.example.com:3478", "turn:global.turn.example.com:3478?transport=udp", "turn:global.turn.example.com:443?transport=tcp"},
			check: func(t *testing.T, ss Servers) {
				assert.Equal(t, "--ice-servers - (stdin): ice_servers[2].url", ss[2].Source)
			}},
		{name: "stdin garbage", in: Input{File: "-", Stdin: strings.NewReader("nope")}, wantErr: ErrJSON, substr: "--ice-servers - (stdin)"},
		{name: "missing file", in: Input{File: filepath.Join(dir, "absent.json")}, substr: "absent.json: cannot read: no such file"},
		{name: "token url", in: Input{TokenURL: srv.URL + "/rest?key=topsecret"}, wantURLs: []string{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"},
			check: func(t *testing.T, ss Servers) {
				assert.NotContains(t, ss[0].Source, "topsecret")
				assert.Equal(t, time.Unix(1900000000, 0), ss[0].Expires)
			}},
		{name: "token url 401", in: Input{TokenURL: srv.URL + "/denied"}, wantErr: ErrTokenURL, substr: "401 Unauthorized"},
		{name: "token url not json", in: Input{TokenURL: srv.URL + "/garbage"}, wantErr: ErrJSON},
		{name: "token url bad scheme", in: Input{TokenURL: "ftp://x"}, wantErr: ErrTokenURL},
		{name: "urls file and token together", in: Input{URLs: []string{"stun:127.0.0.2"}, File: noCreds, TokenURL: srv.URL + "/rest", Username: "u", Credential: "c"},
			wantURLs: []string{"stun:127.0.0.2:3478", "stun:127.0.0.1:3478", "turn:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"},
			check: func(t *testing.T, ss Servers) {
				assert.Equal(t, "u", ss[2].Username)
				assert.Equal(t, "1900000000:carol", ss[3].Username, "credentials in the json are kept")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss, err := Load(context.Background(), tt.in)
			if tt.wantErr != nil || tt.substr != "" {
				require.Error(t, err)
				if tt.wantErr != nil {
					assert.ErrorIs(t, err, tt.wantErr)
				}
				var fe *FieldError
				assert.ErrorAs(t, err, &fe)
				assert.Contains(t, err.Error(), tt.substr)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, s := range ss {
				got = append(got, s.URL())
			}
			assert.Equal(t, tt.wantURLs, got)
			if tt.check != nil {
				tt.check(t, ss)
			}
		})
	}
}

func TestFieldErrorMessage(t *testing.T) {
	err := &FieldError{Source: "ice.json", Field: "iceServers[1].urls[0]", Value: "turn:x?transport=sctp", Err: errors.New("bad")}
	assert.Equal(t, `ice.json: iceServers[1].urls[0] "turn:x?transport=sctp": bad`, err.Error())
}
