package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeLoopbackTour runs the README's loopback tour as written: the
// relay, the signaling server and a relayed call through both (issue 13 #7:
// followed literally, it used to fail on the relay's peer policy). Only the
// ports change, to free ones, so that the test never collides with a relay
// already running on 3478: the relay and the signaling server get a
// --listen for them, and 3478, 8080 and 9100 in the other flags follow.
func TestReadmeLoopbackTour(t *testing.T) {
	if testing.Short() {
		t.Skip("places a real call (a few seconds)")
	}
	lines := readmeTour(t)
	turnPort := freeUDPPair(t)
	ports := map[string]string{"3478": strconv.Itoa(turnPort), "8080": strconv.Itoa(freeTCP(t)), "9100": strconv.Itoa(freeTCP(t))}
	secret := make([]byte, 18)
	_, _ = rand.Read(secret)

	var cmds [][]string
	for _, line := range lines {
		if name, ok := strings.CutPrefix(line, "export "); ok {
			name, _, _ = strings.Cut(name, "=")
			t.Setenv(name, base64.StdEncoding.EncodeToString(secret))
			continue
		}
		args := shellWords(t, os.ExpandEnv(line))
		require.Equal(t, "natkit", args[0], "README tour line %q", line)
		for i := range args {
			for from, to := range ports {
				args[i] = strings.ReplaceAll(args[i], ":"+from, ":"+to)
			}
		}
		switch args[1] {
		case "relay":
			args = append(args, "--listen", "udp://127.0.0.1:"+ports["3478"], "--listen", "tcp://127.0.0.1:"+ports["3478"])
		case "signal":
			args = append(args, "--listen", "127.0.0.1:"+ports["8080"])
		}
		cmds = append(cmds, args[1:])
	}
	require.Len(t, cmds, 3, "relay, signal, call")
	require.Equal(t, []string{"relay", "signal", "call"}, []string{cmds[0][0], cmds[1][0], cmds[2][0]})
	assert.Contains(t, cmds[0], "--allow-peer", "the tour opens loopback peers, or the relayed call fails")

	type server struct {
		code   chan int
		stdout *cancelOnOutput
		stderr *bytes.Buffer
		stop   context.CancelFunc
	}
	start := func(args []string, ready string) *server {
		ctx, stop := context.WithCancel(context.Background())
		up, isUp := context.WithCancel(context.Background())
		s := &server{code: make(chan int, 1), stdout: &cancelOnOutput{want: ready, cancel: isUp}, stderr: &bytes.Buffer{}, stop: stop}
		go func() { s.code <- run(ctx, args, strings.NewReader(""), s.stdout, s.stderr) }()
		select {
		case <-up.Done():
		case c := <-s.code:
			t.Fatalf("natkit %s exited %d before it was ready:\n%s%s", strings.Join(args, " "), c, s.stdout.String(), s.stderr.String())
		case <-time.After(30 * time.Second):
			t.Fatalf("natkit %s: not ready after 30 s", strings.Join(args, " "))
		}
		t.Cleanup(func() {
			stop()
			select {
			case c := <-s.code:
				assert.Equal(t, exitPass, c, "a server exits 0 when stopped: natkit %s\n%s", args[0], s.stderr.String())
			case <-time.After(30 * time.Second):
				t.Errorf("natkit %s did not stop", args[0])
			}
		})
		return s
	}
	start(cmds[0], "ICE servers")
	start(cmds[1], "listening on")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code, out, stderr := runNatkit(t, ctx, cmds[2]...)
	require.Equal(t, exitPass, code, "natkit %s\n%s\n%s", strings.Join(cmds[2], " "), out, stderr)
	assert.Contains(t, out, "PASS call")
	assert.Contains(t, out, "relayed through")
}

// readmeTour returns the command lines of the README code block marked
// <!-- tour:loopback -->.
func readmeTour(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "<!-- tour:loopback")
	require.True(t, ok, "README.md has no <!-- tour:loopback --> block")
	_, rest, _ = strings.Cut(rest, "```sh\n")
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if i := strings.Index(l, "  #"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// shellWords splits a command line as sh would for the README's simple
// quoting: single and double quotes, no escapes.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	require.Zero(t, quote, "unbalanced quote in %q", line)
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func freeTCP(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeUDPPair finds a port free for UDP and TCP whose next port is free for
// UDP too (the relay's RFC 5780 alternate port).
func freeUDPPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		p := u.LocalAddr().(*net.UDPAddr).Port
		next, err1 := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p+1))
		tcp, err2 := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		u.Close()
		if err1 == nil {
			next.Close()
		}
		if err2 == nil {
			tcp.Close()
		}
		if err1 == nil && err2 == nil {
			return p
		}
	}
	t.Fatal(fmt.Errorf("no free UDP port pair on 127.0.0.1"))
	return 0
}
