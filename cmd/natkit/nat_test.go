package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/natbehavior"
	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/reports"
)

func decodeNat(t *testing.T, out string) (*reports.Report, *natbehavior.Result) {
	t.Helper()
	var rep reports.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	var res natbehavior.Result
	require.NoError(t, rep.DecodeDetails(&res))
	return &rep, &res
}

// startRFC5780Relay runs natkit's relay on 127.0.0.1 with 127.0.0.2 as its
// RFC 5780 alternate address.
func startRFC5780Relay(t *testing.T, alt bool) int {
	t.Helper()
	port := externaltest.FreePort(t, "127.0.0.1")
	cfg := relay.Config{Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: fmt.Sprintf("127.0.0.1:%d", port)}}, Users: map[string]string{"a": "b"}}
	if alt {
		cfg.AltIP = net.ParseIP("127.0.0.2")
	}
	srv, err := relay.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return port
}

func TestNatCommand(t *testing.T) {
	port := startRFC5780Relay(t, true)
	plain := startRFC5780Relay(t, false)
	tests := []struct {
		name      string
		args      []string
		code      int
		mapping   natbehavior.Mapping
		filtering natbehavior.Filtering
		text      []string
	}{
		{name: "rfc 5780 relay", args: []string{"--server", fmt.Sprintf("127.0.0.1:%d", port), "--hairpin"}, code: 0,
			mapping: natbehavior.MappingNoNAT, filtering: natbehavior.FilteringEIF, text: []string{"open internet", "reachable directly", "hairpinning"}},
		{name: "server without OTHER-ADDRESS", args: []string{"--server", fmt.Sprintf("127.0.0.1:%d", plain)}, code: 0,
			mapping: natbehavior.MappingNoNAT, filtering: natbehavior.FilteringUnknown, text: []string{"filtering not determined", "does not support RFC 5780"}},
		{name: "lifetime", args: []string{"--server", fmt.Sprintf("127.0.0.1:%d", port), "--lifetime", "--lifetime-max", "600ms"}, code: 0,
			mapping: natbehavior.MappingNoNAT, filtering: natbehavior.FilteringEIF, text: []string{"binding lifetime", "more than 600ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runNatkit(t, context.Background(), append([]string{"nat", "--format", "json"}, tt.args...)...)
			require.Equal(t, tt.code, code, stderr)
			_, res := decodeNat(t, out)
			assert.Equal(t, tt.mapping, res.Mapping)
			assert.Equal(t, tt.filtering, res.Filtering)
			code, text, _ := runNatkit(t, context.Background(), append([]string{"nat"}, tt.args...)...)
			require.Equal(t, tt.code, code)
			for _, s := range tt.text {
				assert.Contains(t, text, s)
			}
		})
	}
}

func TestNatSilentServer(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	code, out, _ := runNatkit(t, context.Background(), "nat", "--server", pc.LocalAddr().String(), "--timeout", "700ms")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "no answer to")
	assert.Contains(t, out, "NAT behaviour not determined")
}

func TestNatBadInput(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{nil, "--server: required"},
		{[]string{"--server", "a:b:c"}, `--server "a:b:c"`},
		{[]string{"--server", "::1"}, `--server "::1": an IPv6 address must be in brackets`},
		{[]string{"--server", "[::1]:3478", "--local", "127.0.0.1:0"}, `--local "127.0.0.1:0": the server [::1]:3478 is IPv6`},
		{[]string{"--server", "127.0.0.1:3478", "--local", "nope"}, `--local "nope": want IP:PORT`},
		{[]string{"--server", "127.0.0.1:3478", "--alt-server", "x:0"}, `--alt-server "x:0"`},
		{[]string{"--server", "127.0.0.1:3478", "--timeout", "-1s"}, "--timeout -1s: must be positive"},
		{[]string{"--server", "127.0.0.1:3478", "--lifetime-max", "5s"}, "--lifetime-max: only applies with --lifetime"},
		{[]string{"--server", "name.invalid:3478"}, "cannot resolve"},
		{[]string{"extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, stderr := runNatkit(t, context.Background(), append([]string{"nat"}, tt.args...)...)
			assert.Equal(t, 2, code, out)
			assert.Contains(t, stderr, tt.msg)
		})
	}
}
