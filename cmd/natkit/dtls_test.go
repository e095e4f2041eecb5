package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/probe/gather"
)

// TestDTLSEndToEnd runs the commands as a user would: natkit relay with a
// dtls:// listener (the tls certificate files) and an IPv6 relay address;
// natkit bench over turns:…?transport=udp with --tls-ca; natkit gather
// over it, whose verdict names the unknown authority (gather trusts the
// system roots only), and natkit gather --dual on the udp listener.
func TestDTLSEndToEnd(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := externaltest.SelfSignedCert(t, dir)
	udpAddr, udpListen := udpListen(t)
	dtlsAddr := fmt.Sprintf("127.0.0.1:%d", externaltest.FreeUDPPort(t, "127.0.0.1"))
	startRelayCommand(t, "--listen", udpListen, "--listen", "dtls://"+dtlsAddr, "--tls-cert", certFile, "--tls-key", keyFile,
		"--relay-ipv6", "::1", "--user", "u:p", "--allow-peer", "127.0.0.0/8")
	url := "turns:" + dtlsAddr + "?transport=udp"

	path := filepath.Join(dir, "bench.json")
	code, out, stderr := runNatkit(t, context.Background(), "bench", url, "--user", "u", "--credential", "p", "--tls-ca", certFile,
		"--pair", "--allocations", "2", "--pps", "20", "--duration", "500ms", "--report", path)
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, stderr)
	rep := readReport(t, path)
	assert.Equal(t, url, rep.Target)
	assert.Equal(t, "dtls", rep.Environment.Settings["transport"])

	code, out, _ = runNatkit(t, context.Background(), "gather", url, "--user", "u", "--credential", "p", "--format", "json", "--timeout", "3s")
	require.Equal(t, exitCheckFailed, code, out)
	var res struct {
		Details gather.Result `json:"details"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Len(t, res.Details.Servers, 1)
	assert.Equal(t, gather.CauseDTLS, res.Details.Servers[0].Cause)
	assert.Contains(t, res.Details.Servers[0].Diagnosis, "signed by an unknown authority")

	if pc, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback for the dual allocation: %v", err)
	} else {
		pc.Close()
	}
	code, out, _ = runNatkit(t, context.Background(), "gather", "turn:"+udpAddr, "--user", "u", "--credential", "p", "--dual", "--format", "json", "--timeout", "3s")
	require.Equal(t, exitPass, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Contains(t, res.Details.Servers[0].RelayDual, "[::1]:")
}
