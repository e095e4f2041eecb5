package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/probe/gather"
	"github.com/natkit/natkit/probe/natbehavior"
	"github.com/natkit/natkit/reports"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares the text rendering of rep with testdata/name.
func golden(t *testing.T, name string, rep *reports.Report) {
	t.Helper()
	rep.Started = time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	rep.Duration = reports.Duration(1234 * time.Millisecond)
	var buf bytes.Buffer
	require.NoError(t, reports.Render(&buf, rep, reports.FormatText, reports.RenderOptions{}))
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/natkit -run Golden -update")
	assert.Equal(t, string(want), buf.String())
}

func TestGatherGolden(t *testing.T) {
	res := &gather.Result{
		Policy: gather.PolicyAll,
		Servers: []gather.ServerResult{
			{URL: "stun:198.51.100.1:3478", Scheme: "stun", Transport: "udp", Cause: gather.CauseSTUNOK, Public: "203.0.113.7:40001", RTT: 21 * time.Millisecond,
				Diagnosis: "STUN OK: public address 203.0.113.7:40001, round trip 21ms", Gather: &gather.Gather{Count: map[string]int{"host": 1, "srflx": 1}}},
			{URL: "turn:198.51.100.2:3478", Scheme: "turn", Transport: "udp", Cause: gather.CauseUnauthorized, ErrorCode: 401, ErrorReason: "Unauthorized",
				Diagnosis: `401 Unauthorized: wrong username or password: the server rejected user "alice"; check --user/--credential`, Gather: &gather.Gather{Count: map[string]int{"host": 1, "srflx": 1}}},
			{URL: "turns:198.51.100.2:5349", Scheme: "turns", Transport: "tcp", Cause: gather.CauseTLS,
				Diagnosis: "TLS handshake failure with 198.51.100.2:5349: the certificate is signed by an unknown authority (self-signed, or the intermediate certificate is missing from the server's chain)"},
		},
		Combined: &gather.Gather{Complete: true, Count: map[string]int{"host": 1, "srflx": 2}, Candidates: []gather.Candidate{
			{At: 0, Component: 1, Type: "host", Foundation: "2070692838", Protocol: "udp", Address: "192.168.1.20", Port: 50000, Priority: 2130706431},
			{At: 21 * time.Millisecond, Component: 1, Type: "srflx", Foundation: "3835024012", Protocol: "udp", Address: "203.0.113.7", Port: 40002, Priority: 1694498815, RelatedAddress: "0.0.0.0:50001", ServerURL: "stun:198.51.100.1:3478"},
			{At: 34 * time.Millisecond, Component: 1, Type: "srflx", Foundation: "3835024012", Protocol: "udp", Address: "203.0.113.7", Port: 40003, Priority: 1694498815, RelatedAddress: "0.0.0.0:50002", ServerURL: "turn:198.51.100.2:3478"},
		}},
		Mappings:      map[string]string{"stun:198.51.100.1:3478": "203.0.113.7:40010", "turn:198.51.100.2:3478": "203.0.113.7:40011"},
		MappingVaries: true,
		Transports:    []gather.TransportResult{{Host: "198.51.100.2", UDP: "failed", TCP: "failed (401-unauthorized, probed)", TLS: "failed"}},
	}
	golden(t, "gather.golden", res.Report("relay"))
}

func TestNatGolden(t *testing.T) {
	res := &natbehavior.Result{
		Cause: natbehavior.CauseClassified, Server: "198.51.100.1:3478", Local: "0.0.0.0:50000", Public: "203.0.113.7:61000", OtherAddress: "198.51.100.2:3479", RFC5780: true, NAT: true,
		Mapping: natbehavior.MappingEIM, Filtering: natbehavior.FilteringAPDF,
		Hairpin:  &natbehavior.Hairpin{Supported: false, Note: "a packet sent to the public address 203.0.113.7:61000 from behind the NAT did not come back within 3s"},
		Lifetime: &natbehavior.Lifetime{Alive: 30 * time.Second, Expired: 45 * time.Second},
		Tests: []natbehavior.Test{
			{Name: "mapping I", Local: "0.0.0.0:50000", To: "198.51.100.1:3478", Answered: true, From: "198.51.100.1:3478", Mapped: "203.0.113.7:61000", RTT: 20 * time.Millisecond, Requests: 1},
			{Name: "mapping II", Local: "0.0.0.0:50000", To: "198.51.100.2:3478", Answered: true, From: "198.51.100.2:3478", Mapped: "203.0.113.7:61000", RTT: 21 * time.Millisecond, Requests: 1},
			{Name: "filtering I", Local: "0.0.0.0:50001", To: "198.51.100.1:3478", Answered: true, From: "198.51.100.1:3478", Mapped: "203.0.113.7:61001", RTT: 20 * time.Millisecond, Requests: 1},
			{Name: "filtering II", Local: "0.0.0.0:50001", To: "198.51.100.1:3478", Change: "ip+port", Requests: 3, Error: "stun 198.51.100.1:3478: no answer to 3 requests in 3s"},
			{Name: "filtering III", Local: "0.0.0.0:50001", To: "198.51.100.1:3478", Change: "port", Requests: 3, Error: "stun 198.51.100.1:3478: no answer to 3 requests in 3s"},
		},
	}
	res.Classic = natbehavior.Classic(res.NAT, res.Mapping, res.Filtering)
	res.Implications = natbehavior.Implications(res.NAT, res.Mapping, res.Filtering)
	golden(t, "nat.golden", res.Report())
}
