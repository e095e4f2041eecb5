package lab_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/transport/v3"
	"golang.org/x/sys/unix"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
)

// icmpError is what a socket's error queue says about an ICMPv6 error.
type icmpError struct {
	errno      syscall.Errno
	typ, code  uint8
	info       uint32
	offender   netip.Addr
	fromICMPv6 bool
}

// setsockopt sets an integer IPv6 option on c.
func setsockopt(t *testing.T, c transport.UDPConn, opt, value int) {
	t.Helper()
	rc, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, opt, value) }); err != nil || serr != nil {
		t.Fatalf("setsockopt %d: %v %v", opt, err, serr)
	}
}

// readErrQueue waits for the next error on c's queue (IPV6_RECVERR).
func readErrQueue(c transport.UDPConn) (icmpError, error) {
	rc, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		return icmpError{}, err
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf, oob := make([]byte, 2048), make([]byte, 512)
	var oobn int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		_, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err != nil {
		return icmpError{}, err
	}
	if rerr != nil {
		return icmpError{}, rerr
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return icmpError{}, err
	}
	for _, m := range msgs {
		if m.Header.Level != unix.IPPROTO_IPV6 || m.Header.Type != unix.IPV6_RECVERR || len(m.Data) < 16+24 {
			continue
		}
		d := m.Data // struct sock_extended_err, then the offender's sockaddr_in6
		return icmpError{
			errno: syscall.Errno(binary.NativeEndian.Uint32(d[0:4])), fromICMPv6: d[4] == unix.SO_EE_ORIGIN_ICMP6,
			typ: d[5], code: d[6], info: binary.NativeEndian.Uint32(d[8:12]),
			offender: netip.AddrFrom16([16]byte(d[16+8 : 16+24])),
		}, nil
	}
	return icmpError{}, fmt.Errorf("no IPV6_RECVERR message in %d bytes of control data", oobn)
}

// routerWANDevice is the device of side a's router that holds its IPv4
// WAN address.
func routerWANDevice(t *testing.T, top *lab.Topology) (ns, dev string) {
	t.Helper()
	ns = top.Namespaces()["ar0"]
	out, err := exec.Command("ip", "-n", ns, "-o", "-4", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr in %s: %v: %s", ns, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 3 && strings.HasPrefix(f[3], "203.0.113.") {
			return ns, f[1]
		}
	}
	t.Fatalf("no WAN address in %s:\n%s", ns, out)
	return "", ""
}

// ICMP errors cross the NAT64 as the kernels on both sides send them: a
// closed IPv4 port refuses the IPv6-only host's connected socket; an
// IPv4 TTL expiring and a smaller IPv4 MTU reach it as ICMPv6 time
// exceeded and packet too big (with the MTU 20 bytes larger); and the
// host's own port unreachable refuses the IPv4 server's socket.
func TestNAT64ICMPErrorsInTheLab(t *testing.T) {
	labtest.Require(t)
	top := labtest.Build(t, lab.Config{A: lab.Side{Preset: "ipv6-only-nat64"}, NoRelay: true})
	na, _ := top.Net(lab.SideA)
	host := na.(*lab.Net)
	wan := top.WANNet()
	synth := func(port int) *net.UDPAddr {
		return &net.UDPAddr{IP: net.IP(lab.Synthesize(netip.MustParseAddr(lab.RelayIP)).AsSlice()), Port: port}
	}
	srv, _ := udpEcho(t, wan, lab.RelayIP+":0")

	t.Run("closed IPv4 port refuses", func(t *testing.T) {
		closed, err := wan.ListenPacket("udp4", lab.RelayIP+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := closed.LocalAddr().(*net.UDPAddr).Port
		_ = closed.Close()
		c, err := host.DialUDP("udp6", nil, synth(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("anyone?")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = c.Read(make([]byte, 64))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("read after sending to a closed IPv4 port: %v, want ECONNREFUSED\n%s", err, nat64Debug(top))
		}
	})

	t.Run("IPv4 TTL expiry", func(t *testing.T) {
		c, err := host.DialUDP("udp6", nil, synth(srv.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		setsockopt(t, c, unix.IPV6_RECVERR, 1)
		// The router's IPv6 forwarding leaves 1 for the translated
		// TTL, so the packet expires in its IPv4 forwarding.
		setsockopt(t, c, unix.IPV6_UNICAST_HOPS, 2)
		if _, err := c.Write([]byte("short-lived")); err != nil {
			t.Fatal(err)
		}
		e, err := readErrQueue(c)
		if err != nil {
			t.Fatalf("error queue: %v\n%s", err, nat64Debug(top))
		}
		if !e.fromICMPv6 || e.typ != 3 || e.code != 0 || !lab.NAT64Prefix.Contains(e.offender) {
			t.Fatalf("got %+v, want ICMPv6 time exceeded (3/0) from a synthesized address", e)
		}
		t.Logf("time exceeded from %s (%v)", e.offender, e.errno)
	})

	t.Run("IPv4 MTU becomes packet too big", func(t *testing.T) {
		ns, dev := routerWANDevice(t, top)
		if out, err := exec.Command("ip", "-n", ns, "link", "set", "dev", dev, "mtu", "1300").CombinedOutput(); err != nil {
			t.Fatalf("set mtu: %v: %s", err, out)
		}
		c, err := host.DialUDP("udp6", nil, synth(srv.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		setsockopt(t, c, unix.IPV6_RECVERR, 1)
		setsockopt(t, c, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO)
		big := make([]byte, 1400) // 1448 bytes of IPv6, 1428 of IPv4 with DF
		if _, err := c.Write(big); err != nil {
			t.Fatal(err)
		}
		e, err := readErrQueue(c)
		if err != nil {
			t.Fatalf("error queue: %v\n%s", err, nat64Debug(top))
		}
		if !e.fromICMPv6 || e.typ != 2 || e.info != 1320 || e.errno != syscall.EMSGSIZE {
			t.Fatalf("got %+v, want ICMPv6 packet too big with MTU 1320 (1300 + 20)", e)
		}
		if _, err := c.Write(big); !errors.Is(err, syscall.EMSGSIZE) {
			t.Errorf("a second 1400-byte datagram: %v, want EMSGSIZE (path MTU 1320 learnt)", err)
		}
		if _, err := c.Write(make([]byte, 1200)); err != nil {
			t.Errorf("a datagram under the path MTU: %v", err)
		}
	})

	t.Run("host's port unreachable refuses the IPv4 server", func(t *testing.T) {
		sv, err := wan.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(lab.RelayIP)})
		if err != nil {
			t.Fatal(err)
		}
		svAddr := sv.LocalAddr().(*net.UDPAddr)
		c, err := host.DialUDP("udp6", nil, synth(svAddr.Port))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hello, then gone")); err != nil {
			t.Fatal(err)
		}
		_ = sv.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, from, err := sv.ReadFrom(make([]byte, 64))
		_ = sv.Close()
		_ = c.Close()
		if err != nil {
			t.Fatalf("the server heard nothing: %v\n%s", err, nat64Debug(top))
		}
		// The server answers from the same port, connected, after the
		// host's socket is gone.
		s, err := wan.DialUDP("udp4", svAddr, from.(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Write([]byte("still there?")); err != nil {
			t.Fatal(err)
		}
		_ = s.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = s.Read(make([]byte, 64))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("the IPv4 server's read: %v, want ECONNREFUSED\n%s", err, nat64Debug(top))
		}
	})
	st, _ := top.NAT64Stats(lab.SideA)
	t.Logf("translator: %+v", st)
}
