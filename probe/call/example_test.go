package call_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/vnet"
)

// place calls between two NAT presets of a virtual network, STUN only,
// giving the call the NAT theory of the pair.
func place(a, b string, probes int) (*call.Result, error) {
	pa, err := vnet.LookupPreset(a)
	if err != nil {
		return nil, err
	}
	pb, err := vnet.LookupPreset(b)
	if err != nil {
		return nil, err
	}
	top, err := vnet.Build(vnet.Spec{A: vnet.Side{Preset: a}, B: vnet.Side{Preset: b}})
	if err != nil {
		return nil, err
	}
	defer top.Close()
	na, err := top.Net(vnet.SideA)
	if err != nil {
		return nil, err
	}
	nb, err := top.Net(vnet.SideB)
	if err != nil {
		return nil, err
	}
	stun := []webrtc.ICEServer{{URLs: []string{top.STUNURL()}}}
	fast := call.FastICE()
	return call.Run(context.Background(), call.Config{
		A:              call.PeerConfig{Net: na, ICEServers: stun, ICE: &fast},
		B:              call.PeerConfig{Net: nb, ICEServers: stun, ICE: &fast},
		ConnectTimeout: 10 * time.Second,
		Probe:          call.ProbeConfig{Count: probes},
		NoDirectPath:   vnet.WhyNoDirectPath(pa, pb),
	})
}

// Place a call between two NATs of a virtual network and read its verdict.
func ExampleRun() {
	res, err := place("full-cone", "port-restricted-cone", 5)
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
// for people. The NAT theory (Config.NoDirectPath) is the caller's input.
func ExampleResult_Diagnosis() {
	res, err := place("symmetric", "port-restricted-cone", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("connected:", res.Connected)
	fmt.Println("cause:", res.Cause)
	fmt.Println(strings.Contains(res.Diagnosis(), "only a TURN relay can carry this call"))
	// Output:
	// connected: false
	// cause: no-direct-path
	// true
}
