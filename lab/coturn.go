package lab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// Relay software of Config.Relay.
const (
	// RelayNatkit is natkit relay, in process (the default).
	RelayNatkit = "natkit"
	// RelayCoturn is Debian's coturn turnserver, run inside the WAN
	// namespace.
	RelayCoturn = "coturn"
)

// coturnProgram is the program RelayCoturn runs, and its Debian package.
var coturnProgram = Missing{What: "program turnserver", Package: "coturn"}

// checkAll is Check, plus turnserver when cfg runs coturn: everything
// missing is named at once, before anything is built.
func checkAll(cfg Config) error {
	var miss []Missing
	if err := Check(); err != nil {
		var me *MissingError
		if !errors.As(err, &me) {
			return err
		}
		miss = me.Missing
	}
	if cfg.Relay == RelayCoturn && !cfg.NoRelay {
		if _, err := exec.LookPath("turnserver"); err != nil {
			miss = append(miss, coturnProgram)
		}
	}
	if len(miss) > 0 {
		return &MissingError{Missing: miss}
	}
	return nil
}

// coturn is a turnserver running in the WAN namespace.
type coturn struct {
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

// coturnArgs are turnserver's flags for the lab: the relay's two addresses
// (RFC 5780 on 3478/3479), static long-term users, and natkit relay's peer
// policy: the WAN is the Internet, private ranges are refused.
func coturnArgs(cfg Config, dir string) []string {
	args := []string{"-n", "--no-cli", "--no-tls", "--no-dtls",
		"--listening-ip", RelayIP, "--listening-ip", RelayAlt, "--relay-ip", RelayIP,
		"--listening-port", fmt.Sprint(RelayPort), "--realm", cfg.Realm,
		"--log-file", "stdout", "--simple-log",
		"--pidfile", filepath.Join(dir, "turnserver.pid"), "--userdb", filepath.Join(dir, "turndb"),
		"--no-multicast-peers", "--allowed-peer-ip", "203.0.113.0-203.0.113.255",
		"--denied-peer-ip", "10.0.0.0-10.255.255.255", "--denied-peer-ip", "172.16.0.0-172.31.255.255",
		"--denied-peer-ip", "192.168.0.0-192.168.255.255", "--denied-peer-ip", "100.64.0.0-100.127.255.255",
		"--lt-cred-mech"}
	users := make([]string, 0, len(cfg.Users))
	for u := range cfg.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		args = append(args, "--user", u+":"+cfg.Users[u])
	}
	return args
}

// startCoturn starts turnserver in the WAN namespace and waits until it
// accepts TCP on the relay's address.
func (t *Topology) startCoturn() error {
	dir, err := os.MkdirTemp("", t.prefix+"coturn-")
	if err != nil {
		return &BuildError{Part: "coturn", Err: err}
	}
	log, err := os.Create(filepath.Join(dir, "turnserver.log")) //nolint:gosec // in our own temporary directory
	if err != nil {
		_ = os.RemoveAll(dir)
		return &BuildError{Part: "coturn", Err: err}
	}
	cmd := exec.Command("turnserver", coturnArgs(t.cfg, dir)...) //nolint:gosec // a fixed program, arguments built here
	cmd.Stdout, cmd.Stderr = log, log
	// Killed with us if we are killed (lab clean removes the namespaces).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = t.wan.Do(cmd.Start)
	_ = log.Close()
	if err != nil {
		_ = os.RemoveAll(dir)
		return &BuildError{Part: "coturn", Err: err}
	}
	c := &coturn{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.coturn = c
	addr := net.JoinHostPort(RelayIP, fmt.Sprint(RelayPort))
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := t.wan.Dial("tcp", addr)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-c.done:
			out, _ := os.ReadFile(filepath.Join(dir, "turnserver.log")) //nolint:gosec // in our own temporary directory
			return &BuildError{Part: "coturn", Err: fmt.Errorf("turnserver exited: %s", tail(string(out), 600))}
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return &BuildError{Part: "coturn", Err: fmt.Errorf("turnserver does not listen on %s after 10s", addr)}
		}
	}
}

// RelayPID is the PID of the relay process in the WAN namespace
// (turnserver), or 0 when the relay runs in process (natkit relay).
func (t *Topology) RelayPID() int {
	if t.coturn == nil {
		return 0
	}
	return t.coturn.cmd.Process.Pid
}

// stop kills turnserver by its PID and reaps it.
func (c *coturn) stop() error {
	err := c.cmd.Process.Kill()
	<-c.done
	if errors.Is(err, os.ErrProcessDone) {
		err = nil
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
