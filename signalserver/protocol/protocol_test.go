package protocol_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/signalserver/protocol"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		in   string
		code string
		typ  string
	}{
		{`{"type":"join","room":"r1"}`, "", protocol.TypeJoin},
		{`{"type":"join","room":"r1","peer":"p","resume":"t"}`, "", protocol.TypeJoin},
		{`{"type":"offer","to":"b","sdp":"v=0"}`, "", protocol.TypeOffer},
		{`{"type":"candidate","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}`, "", protocol.TypeCandidate},
		{`{"type":"bye"}`, "", protocol.TypeBye},
		{`{"type":"ping","extra":1}`, "", protocol.TypePing},
		{`{"type":"joined"}`, protocol.CodeBadMessage, ""},
		{`{"type":"join","room":"` + strings.Repeat("r", 65) + `"}`, protocol.CodeBadMessage, ""},
		{"\xff", protocol.CodeBadMessage, ""},
		{`null`, protocol.CodeBadMessage, ""},
		{`{"type":"candidate","candidate":"x"}`, protocol.CodeBadMessage, ""},
	}
	for _, tc := range cases {
		m, err := protocol.Decode([]byte(tc.in), 1024)
		if tc.code != "" {
			require.NotNil(t, err, tc.in)
			require.Equal(t, tc.code, err.Code, tc.in)
			continue
		}
		require.Nil(t, err, tc.in)
		require.Equal(t, tc.typ, m.Type)
	}
	_, err := protocol.Decode([]byte(`{"type":"ping"}`), 5)
	require.Equal(t, protocol.CodeTooLarge, err.Code)
}

// FuzzDecode: the decoder never panics, errors are typed, and whatever it
// accepts survives a round trip.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","room":"r","token":"t"}`, `{"type":"offer","to":"b","sdp":"v=0\r\n"}`,
		`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"bye","to":"x"}`, `{"type":"ping"}`, `{}`, `[]`, `"x"`, `{"type":"join","room":"r","resume":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := protocol.Decode(data, 4096)
		if err != nil {
			if err.Code != protocol.CodeBadMessage && err.Code != protocol.CodeTooLarge {
				t.Fatalf("code %q", err.Code)
			}
			return
		}
		m2, err := protocol.Decode(protocol.Encode(m), 0)
		if err != nil {
			t.Fatalf("re-decode %+v: %v", m, err)
		}
		require.Equal(t, m, m2)
	})
}
