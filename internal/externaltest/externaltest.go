// Package externaltest finds and starts the external programs that interop
// tests need (coturn, chromium, redis-server), with one rule: without the
// program a test skips with the install command, unless
// NATKIT_REQUIRE_EXTERNAL=1, in which case it fails.
package externaltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the variable that turns a missing program into a failure.
const RequireEnv = "NATKIT_REQUIRE_EXTERNAL"

// Required reports whether missing external programs must fail tests.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// LookPath returns the path of program, or skips (fails when Required) with
// the Debian package that provides it.
func LookPath(t testing.TB, program, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found: install it with 'apt-get install -y %s'", program, debianPackage)
	if Required() {
		t.Fatalf("%s (%s=1)", msg, RequireEnv)
	}
	t.Skip(msg)
	return ""
}

// FreeUDPPort returns a UDP port that is free on ip at the time of the call.
func FreeUDPPort(t testing.TB, ip string) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("find free udp port on %s: %v", ip, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// FreeTCPPort returns a TCP port that is free on ip at the time of the call.
func FreeTCPPort(t testing.TB, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("find free tcp port on %s: %v", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreePort returns a port free for both UDP and TCP on ip, as servers like
// turnserver listen on both.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	for range 50 {
		p := FreeUDPPort(t, ip)
		l, err := net.Listen("tcp4", net.JoinHostPort(ip, fmt.Sprint(p)))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatalf("no port free for both udp and tcp on %s", ip)
	return 0
}

// Process is an external program started for a test.
type Process struct {
	Cmd    *exec.Cmd
	output *syncBuffer
}

// Output returns what the program wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.output.String() }

// Start runs program with args and stops it (SIGINT, then SIGKILL) in
// t.Cleanup. Its output is kept for diagnostics and shown if the test fails.
func Start(t testing.TB, program string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(program, args...)
	buf := &syncBuffer{}
	cmd.Stdout = buf
	cmd.Stderr = buf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", program, err)
	}
	p := &Process{Cmd: cmd, output: buf}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", program, tail(buf.String(), 4000))
		}
	})
	return p
}

// Run runs program to completion with a deadline and returns its combined
// output.
func Run(ctx context.Context, program string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, program, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// WaitTCP waits until addr accepts TCP connections.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not accept tcp connections within %s", addr, timeout)
}

// ErrNotReady is returned by WaitFor when the condition never held.
var ErrNotReady = errors.New("condition not met before timeout")

// WaitFor polls cond every 50 ms until it is true or timeout passes.
func WaitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ErrNotReady
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Clone(b.buf.String())
}
