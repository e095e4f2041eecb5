package iceconfig

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Servers marshal as an RTCConfiguration's iceServers, byte for byte what
// natkit relay's banner printed before relay returned Servers, and read
// back with Parse.
func TestServersJSON(t *testing.T) {
	ss := Servers{
		{Scheme: SchemeSTUN, Host: "127.0.0.1", Port: 3478, Transport: TransportUDP},
		{Scheme: SchemeTURN, Host: "127.0.0.1", Port: 3478, Transport: TransportUDP, ExplicitTransport: true, Username: "1700000000:natkit", Credential: "c"},
		{Scheme: SchemeTURN, Host: "127.0.0.1", Port: 3479, Transport: TransportTCP, ExplicitTransport: true, Username: "1700000000:natkit", Credential: "c"},
		{Scheme: SchemeTURNS, Host: "127.0.0.1", Port: 5349, Transport: TransportTCP, ExplicitTransport: true, Username: "1700000000:natkit", Credential: "c"},
	}
	b, err := json.MarshalIndent(map[string]any{"iceServers": ss}, "", "  ")
	require.NoError(t, err)
	assert.Equal(t, `{
  "iceServers": [
    {
      "urls": [
        "stun:127.0.0.1:3478"
      ]
    },
    {
      "urls": [
        "turn:127.0.0.1:3478?transport=udp",
        "turn:127.0.0.1:3479?transport=tcp",
        "turns:127.0.0.1:5349?transport=tcp"
      ],
      "username": "1700000000:natkit",
      "credential": "c"
    }
  ]
}`, string(b))

	var back struct {
		ICEServers Servers `json:"iceServers"`
	}
	require.NoError(t, json.Unmarshal(b, &back))
	require.Len(t, back.ICEServers, len(ss))
	assert.Equal(t, ss.URLs(), back.ICEServers.URLs())
	for i := range ss {
		assert.Equal(t, ss[i].Username, back.ICEServers[i].Username)
		assert.Equal(t, ss[i].Credential, back.ICEServers[i].Credential)
	}
}
