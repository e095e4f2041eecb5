package iceconfig_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/natkit/natkit/probe/iceconfig"
)

// Load a provider's token response from stdin, as in
// `curl ... | natkit gather --ice-servers -`.
func ExampleLoad() {
	body := `{"ice_servers":[
	  {"urls":"stun:stun.example.com:3478"},
	  {"url":"turn:turn.example.com:3478?transport=tcp","username":"u1","credential":"p1"}],
	 "ttl":"86400"}`
	servers, err := iceconfig.Load(context.Background(), iceconfig.Input{File: "-", Stdin: strings.NewReader(body)})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range servers {
		fmt.Println(s.URL(), s.Username, s.TTL, "from", s.Source)
	}
	// webrtc.Configuration{ICEServers: servers.WebRTC()} or
	// ice.AgentConfig{Urls: servers.ICEURLs()} take them as they are.
	fmt.Println(len(servers.WebRTC()), len(servers.ICEURLs()))
	// Output:
	// stun:stun.example.com:3478  24h0m0s from --ice-servers - (stdin): ice_servers[0].urls
	// turn:turn.example.com:3478?transport=tcp u1 24h0m0s from --ice-servers - (stdin): ice_servers[1].url
	// 2 2
}

// A malformed input names the field and what is wrong.
func ExampleParse_error() {
	_, err := iceconfig.Parse([]byte(`{"iceServers":[{"urls":["stun:a","turn:b?transport=sctp"]}]}`), "ice.json")
	fmt.Println(err)
	// Output:
	// ice.json: iceServers[0].urls[1] "turn:b?transport=sctp": invalid transport "sctp": want udp or tcp
}

// A turn: URL with a shared secret gets coturn-compatible REST credentials.
func ExampleLoad_secret() {
	servers, err := iceconfig.Load(context.Background(), iceconfig.Input{
		URLs:   []string{"turn:127.0.0.1:3478"},
		Secret: "north",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	s := servers[0]
	fmt.Println(s.URL(), strings.HasSuffix(s.Username, ":natkit"), s.Credential != "", s.CheckExpiry(s.Expires.Add(-1)) == nil)
	// Output:
	// turn:127.0.0.1:3478 true true true
}
