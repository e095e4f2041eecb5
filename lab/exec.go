package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tools are the programs the lab runs, with their Debian packages.
var tools = []Missing{
	{What: "ip", Package: "iproute2"},
	{What: "nft", Package: "nftables"},
	{What: "tc", Package: "iproute2"},
}

// Capabilities the lab needs (bit numbers from linux/capability.h).
const (
	capNetAdmin = 12
	capSysAdmin = 21
)

// Check reports what the lab needs and the machine lacks: CAP_NET_ADMIN and
// CAP_SYS_ADMIN (or root), and the ip, nft and tc programs. It returns a
// *MissingError, or nil when the lab can run.
func Check() error {
	var miss []Missing
	caps, err := effectiveCaps()
	if err != nil {
		miss = append(miss, Missing{What: "root (cannot read capabilities: " + err.Error() + ")"})
	} else {
		for _, c := range []struct {
			bit  uint
			name string
		}{{capNetAdmin, "CAP_NET_ADMIN"}, {capSysAdmin, "CAP_SYS_ADMIN"}} {
			if caps&(1<<c.bit) == 0 {
				miss = append(miss, Missing{What: "capability " + c.name + " (run as root)"})
			}
		}
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t.What); err != nil {
			miss = append(miss, Missing{What: "program " + t.What, Package: t.Package})
		}
	}
	if len(miss) > 0 {
		return &MissingError{Missing: miss}
	}
	return nil
}

func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

// run runs a program inside n (the current namespace when n is nil), with
// stdin, and returns its output.
func run(n *Net, stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...) //nolint:gosec // fixed programs, arguments built here
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group: a Ctrl-C (sent to the terminal's group) must
	// not kill the ip that is removing the topology.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var err error
	if n == nil {
		err = cmd.Run()
	} else {
		// The child is forked from the locked thread, so it starts inside
		// the namespace.
		err = n.Do(cmd.Start)
		if err == nil {
			err = cmd.Wait()
		}
	}
	if err != nil {
		return out.String(), &CommandError{Args: args, Output: out.String(), Err: err}
	}
	return out.String(), nil
}

// Command returns cmd prepared to start inside namespace ns: call Start or
// Run through StartIn.
func StartIn(ns string, cmd *exec.Cmd) error {
	n, err := OpenNet(ns)
	if err != nil {
		return err
	}
	defer n.Close()
	return n.Do(cmd.Start)
}

// writeSysctl sets a sysctl of n's namespace: /proc/sys/net follows the
// namespace of the thread that opens it.
func writeSysctl(n *Net, key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return n.Do(func() error {
		if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
			return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, n.name, err)
		}
		return nil
	})
}

// processAlive tells whether pid is a running process.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// setLinksUp sets devices of n up with SIOCSIFFLAGS, in-process: one
// namespace after the other, so that the two ends of a veth are never set
// up at the same moment (which can leave one end without carrier).
func setLinksUp(n *Net, devs []string) error {
	return n.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("link up in %s: %w", n.name, err)
		}
		defer unix.Close(fd)
		for _, dev := range devs {
			ifr, err := unix.NewIfreq(dev)
			if err != nil {
				return fmt.Errorf("link up %s: %w", dev, err)
			}
			if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
				return fmt.Errorf("link up %s in %s: get flags: %w", dev, n.name, err)
			}
			ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
			if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
				return fmt.Errorf("link up %s in %s: %w", dev, n.name, err)
			}
		}
		return nil
	})
}

// waitRunning waits until every device of n is operational (IFF_RUNNING):
// until the kernel's link watcher has activated a device, its queue drops
// every packet.
func waitRunning(n *Net, devs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var down string
		err := n.Do(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			for _, dev := range devs {
				ifr, err := unix.NewIfreq(dev)
				if err != nil {
					return err
				}
				if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
					return fmt.Errorf("flags of %s in %s: %w", dev, n.name, err)
				}
				if ifr.Uint16()&unix.IFF_RUNNING == 0 {
					down = dev
					return nil
				}
			}
			return nil
		})
		if err != nil || down == "" {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s in %s not running after %v", down, n.name, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
