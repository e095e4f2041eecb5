package lab_test

import (
	"io"
	"net"
	"slices"
	"testing"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
)

// TestNetSocketsLiveInTheirNamespace: interfaces are the namespace's, and a
// TCP connection from side a's host reaches side b's through a's NAT.
func TestNetSocketsLiveInTheirNamespace(t *testing.T) {
	top := labtest.Build(t, lab.Config{A: lab.Side{Preset: "port-restricted-cone"}, B: lab.Side{Preset: "open"}})
	na, _ := top.Net(lab.SideA)
	nb, _ := top.Net(lab.SideB)
	ifs, err := na.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, ifc := range ifs {
		as, _ := ifc.Addrs()
		for _, a := range as {
			addrs = append(addrs, a.String())
		}
	}
	if len(ifs) != 2 || !containsStr(addrs, "10.1.0.2/24") {
		t.Fatalf("side a's interfaces: %d, addresses %v; want lo and 10.1.0.2/24", len(ifs), addrs)
	}
	if _, err := na.InterfaceByName("lo"); err != nil {
		t.Error(err)
	}
	laddr, err := nb.ResolveTCPAddr("tcp4", "203.0.113.20:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := nb.ListenTCP("tcp4", laddr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		c, err := l.AcceptTCP()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		got <- c.RemoteAddr().String()
		_, _ = c.Write([]byte("hello"))
	}()
	c, err := na.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
	if from, _, _ := net.SplitHostPort(<-got); from != "203.0.113.10" {
		t.Errorf("b saw the connection from %s, want a's public address 203.0.113.10", from)
	}
	// A socket made outside the namespace cannot bind a's address.
	if _, err := net.ListenPacket("udp4", "10.1.0.2:0"); err == nil {
		t.Error("10.1.0.2 is bindable in the root namespace: the lab leaked into it")
	}
}

func containsStr(list []string, s string) bool { return slices.Contains(list, s) }
