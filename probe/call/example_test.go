package call_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/vnet"
)

// Place a call between two NATs of a virtual network and read its verdict.
func ExampleRun() {
	top, err := vnet.Build(vnet.Spec{A: vnet.Side{Preset: "full-cone"}, B: vnet.Side{Preset: "port-restricted-cone"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer top.Close()
	na, _ := top.Net(vnet.SideA)
	nb, _ := top.Net(vnet.SideB)
	stun := []webrtc.ICEServer{{URLs: []string{top.STUNURL()}}}
	fast := call.FastICE()
	res, err := call.Run(context.Background(), call.Config{
		A:              call.PeerConfig{Net: na, ICEServers: stun, ICE: &fast},
		B:              call.PeerConfig{Net: nb, ICEServers: stun, ICE: &fast},
		ConnectTimeout: 10 * time.Second,
		Probe:          call.ProbeConfig{Count: 5},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("cause:", res.Cause)
	fmt.Println("path:", res.Path.Class)
	fmt.Println("echoed:", res.Messages.Received, "of", res.Messages.Sent)
	// Output:
	// cause: ok
	// path: direct-nat
	// echoed: 5 of 5
}

// A call that cannot connect says why: the cause for code, the diagnosis
// for people. Here the NAT theory is an input the caller gives.
func ExampleResult_Diagnosis() {
	a, _ := vnet.LookupPreset("symmetric")
	b, _ := vnet.LookupPreset("port-restricted-cone")
	top, err := vnet.Build(vnet.Spec{A: vnet.Side{Preset: a.Name}, B: vnet.Side{Preset: b.Name}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer top.Close()
	na, _ := top.Net(vnet.SideA)
	nb, _ := top.Net(vnet.SideB)
	stun := []webrtc.ICEServer{{URLs: []string{top.STUNURL()}}}
	fast := call.FastICE()
	res, err := call.Run(context.Background(), call.Config{
		A:              call.PeerConfig{Net: na, ICEServers: stun, ICE: &fast},
		B:              call.PeerConfig{Net: nb, ICEServers: stun, ICE: &fast},
		ConnectTimeout: 10 * time.Second,
		NoDirectPath:   vnet.WhyNoDirectPath(a, b),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("connected:", res.Connected)
	fmt.Println("cause:", res.Cause)
	// Output:
	// connected: false
	// cause: no-direct-path
}
