package vnet_test

import (
	"fmt"
	"net"

	"github.com/natkit/natkit/vnet"
)

// Build two sides behind NATs with a STUN/TURN relay on the WAN, and give
// each side's transport.Net to whatever you test (a pion PeerConnection,
// natkit's gather or call probes).
func ExampleBuild() {
	top, err := vnet.Build(vnet.Spec{
		A: vnet.Side{Preset: "symmetric"},
		B: vnet.Side{Mapping: "EIM", Filtering: "APDF", LossPercent: 1},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer top.Close()
	na, err := top.Net(vnet.SideA)
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := na.ListenPacket("udp4", top.HostIP(vnet.SideA).String()+":0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	fmt.Println("a:", top.Describe(vnet.SideA), "host", conn.LocalAddr().(*net.UDPAddr).IP, "public", top.PublicIP(vnet.SideA))
	fmt.Println("b:", top.Describe(vnet.SideB))
	fmt.Println("relay:", top.TURNURL())
	// Output:
	// a: symmetric (APDM/APDF) host 10.1.0.2 public 203.0.113.10
	// b: custom (EIM/APDF)
	// relay: turn:203.0.113.1:3478?transport=udp
}

// The theory of the NAT matrix: which pairs can connect directly, and why
// the others cannot.
func ExampleWhyNoDirectPath() {
	sym, _ := vnet.LookupPreset("symmetric")
	full, _ := vnet.LookupPreset("full-cone")
	fmt.Println(vnet.ExpectDirect(sym, full), vnet.WhyNoDirectPath(sym, full) == "")
	fmt.Println(vnet.ExpectDirect(sym, sym))
	// Output:
	// true true
	// false
}
