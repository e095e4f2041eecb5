package lab_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
)

// udpEcho answers every datagram with "echo " + it, and reports who sent.
func udpEcho(t *testing.T, n *lab.Net, addr string) (*net.UDPAddr, <-chan string) {
	t.Helper()
	c, err := n.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	from := make(chan string, 16)
	go func() {
		buf := make([]byte, 1500)
		for {
			k, src, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			from <- src.String()
			_, _ = c.WriteTo(append([]byte("echo "), buf[:k]...), src)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr), from
}

// exchange sends msg on c and waits for the echo.
func exchange(t *testing.T, c net.Conn, msg string) error {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	k, err := c.Read(buf)
	if err != nil {
		return err
	}
	if got := string(buf[:k]); got != "echo "+msg {
		return fmt.Errorf("got %q, want %q", got, "echo "+msg)
	}
	return nil
}

// A real UDP and TCP exchange from an IPv6-only host through the NAT64
// translator to an IPv4 server on the WAN: the name resolves to the
// synthesized address, the server sees the pool address, and the host's
// port is preserved.
func TestNAT64RealExchange(t *testing.T) {
	labtest.Require(t)
	top := labtest.Build(t, lab.Config{A: lab.Side{Preset: "ipv6-only-nat64"}, NoRelay: true})
	if top.HostIP(lab.SideA) != nil || top.HostIPv6(lab.SideA).String() != "2001:db8:a::2" {
		t.Fatalf("host addresses %v, %v: want IPv6 only", top.HostIP(lab.SideA), top.HostIPv6(lab.SideA))
	}
	na, _ := top.Net(lab.SideA)
	host := na.(*lab.Net)
	wan := top.WANNet()

	// UDP.
	srv, from := udpEcho(t, wan, lab.RelayIP+":0")
	target := fmt.Sprintf("%s:%d", lab.RelayName, srv.Port)
	ra, err := host.ResolveUDPAddr("udp6", target)
	if err != nil || ra.IP.String() != "64:ff9b::cb00:7101" {
		t.Fatalf("resolve %s: %v, %v: want the DNS64 synthesis", target, ra, err)
	}
	// Like Go's resolver, "udp" picks the A record, which an IPv6-only
	// host cannot reach.
	if a, err := host.ResolveUDPAddr("udp", target); err != nil || a.IP.String() != lab.RelayIP {
		t.Fatalf("resolve udp %s: %v, %v", target, a, err)
	}
	c, err := host.DialUDP("udp6", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := exchange(t, c, "over nat64"); err != nil {
		t.Fatalf("udp through NAT64: %v\n%s", err, nat64Debug(top))
	}
	want := fmt.Sprintf("203.0.113.11:%d", c.LocalAddr().(*net.UDPAddr).Port)
	if got := <-from; got != want {
		t.Errorf("the IPv4 server saw %s, want %s (pool address, port preserved)", got, want)
	}
	// An IPv4 socket has nowhere to go on an IPv6-only host.
	if c4, err := host.Dial("udp4", target); err == nil {
		if _, werr := c4.Write([]byte("x")); werr == nil {
			t.Error("udp4 from the IPv6-only host: want network unreachable")
		}
		c4.Close()
	}

	// TCP.
	l, err := wan.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(lab.RelayIP)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan string, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		accepted <- s.RemoteAddr().String()
		buf := make([]byte, 1500)
		k, _ := s.Read(buf)
		_, _ = s.Write(append([]byte("echo "), buf[:k]...))
		_, _ = io.Copy(io.Discard, s)
	}()
	tc, err := host.Dial("tcp", fmt.Sprintf("%s:%d", lab.RelayName, l.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatalf("tcp through NAT64: %v\n%s", err, nat64Debug(top))
	}
	if !strings.HasPrefix(tc.RemoteAddr().String(), "[64:ff9b::cb00:7101]:") {
		t.Errorf("tcp went to %s, want the synthesized address", tc.RemoteAddr())
	}
	if err := exchange(t, tc, "tcp over nat64"); err != nil {
		t.Fatalf("tcp exchange: %v\n%s", err, nat64Debug(top))
	}
	tc.Close()
	if got := <-accepted; !strings.HasPrefix(got, "203.0.113.11:") {
		t.Errorf("the IPv4 server accepted %s, want the pool address", got)
	}
	st, _ := top.NAT64Stats(lab.SideA)
	if st.To4 < 4 || st.To6 < 3 || st.Bindings < 2 {
		t.Errorf("translator stats %+v: want both directions and a UDP and a TCP binding", st)
	}
	// Nobody the host never sent to gets in.
	other, err := wan.Dial("udp4", want)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, _ = other.Write([]byte("unsolicited"))
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, _ = top.NAT64Stats(lab.SideA)
		if st.Dropped["filtered: the IPv6 host never sent to this IPv4 endpoint"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an unsolicited IPv4 packet: want it filtered, stats %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nat64Debug(top *lab.Topology) string {
	st, _ := top.NAT64Stats(lab.SideA)
	return fmt.Sprintf("nat64 %+v", st)
}

// Two dual-stack sides: IPv6 is routed without translation between the
// hosts' global addresses, and each router's firewall lets in only what
// its host asked for (port-restricted-like, on the host's own address).
func TestDualStackIPv6Firewall(t *testing.T) {
	labtest.Require(t)
	top := labtest.Build(t, lab.Config{A: lab.Side{Preset: "dual-stack"}, B: lab.Side{Preset: "dual-stack"}, NoRelay: true})
	na, _ := top.Net(lab.SideA)
	nb, _ := top.Net(lab.SideB)
	a6, b6 := top.HostIPv6(lab.SideA), top.HostIPv6(lab.SideB)
	ca, err := na.ListenUDP("udp6", &net.UDPAddr{IP: a6})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := nb.ListenUDP("udp6", &net.UDPAddr{IP: b6})
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	recv := func(c interface {
		ReadFrom([]byte) (int, net.Addr, error)
		SetReadDeadline(time.Time) error
	}, wait time.Duration) (string, error) {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 100)
		k, src, err := c.ReadFrom(buf)
		if err != nil {
			return "", err
		}
		return string(buf[:k]) + " from " + src.String(), nil
	}
	// b's unsolicited packet is dropped by a's router...
	if _, err := cb.WriteTo([]byte("first"), ca.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, err := recv(ca, time.Second); err == nil {
		t.Fatalf("a received %q unsolicited: want a's firewall to drop it", got)
	}
	// ...but it opened b's, so a's packet gets through, and then b's.
	if _, err := ca.WriteTo([]byte("hello"), cb.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	got, err := recv(cb, 2*time.Second)
	if want := "hello from " + ca.LocalAddr().String(); err != nil || got != want {
		t.Fatalf("b got %q, %v: want %q (no translation)", got, err, want)
	}
	if _, err := cb.WriteTo([]byte("reply"), ca.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, err := recv(ca, 2*time.Second); err != nil || !strings.HasPrefix(got, "reply") {
		t.Fatalf("a got %q, %v", got, err)
	}
	// IPv4 still goes through the NAT.
	if top.HostIP(lab.SideA).String() != "10.1.0.2" || top.PublicIP(lab.SideA).String() != "203.0.113.10" {
		t.Errorf("IPv4 addresses %s, %s", top.HostIP(lab.SideA), top.PublicIP(lab.SideA))
	}
}
