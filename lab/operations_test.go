package lab_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/natbehavior"
	"github.com/natkit/natkit/vnet"
)

// stunRTT sends one Binding request from side's host to the relay and
// returns the RTT, or an error when no answer came within budget.
func stunRTT(t *testing.T, top *lab.Topology, side string, budget time.Duration) (time.Duration, error) {
	t.Helper()
	n, _ := top.Net(side)
	pc, err := n.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	c := natbehavior.NewClient(pc, natbehavior.Retransmit{RTO: 100 * time.Millisecond, Rc: 3, Budget: budget})
	defer c.Close()
	req, _ := natbehavior.BindingRequest(0, 0)
	r, err := c.Do(context.Background(), &net.UDPAddr{IP: net.ParseIP(lab.RelayIP), Port: lab.RelayPort}, req)
	if err != nil {
		return 0, err
	}
	return r.RTT, nil
}

// udpReaches sends from side a's host to side b's open host and reports
// whether the datagram arrived.
func udpReaches(t *testing.T, top *lab.Topology) bool {
	t.Helper()
	na, _ := top.Net(lab.SideA)
	nb, _ := top.Net(lab.SideB)
	rx, err := nb.ListenPacket("udp4", "203.0.113.20:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := na.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for range 3 {
		if _, err := tx.WriteTo([]byte("x"), rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	_ = rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, _, err = rx.ReadFrom(make([]byte, 16))
	return err == nil
}

// TestTopologyOperations drives the operations scenarios use on a real
// kernel: cut direct, firewall relay-only, silence, rebind, impairments,
// and the drops they count.
func TestTopologyOperations(t *testing.T) {
	top := labtest.Build(t, lab.Config{A: lab.Side{Preset: "port-restricted-cone"}, B: lab.Side{Preset: "open"}})
	if !udpReaches(t, top) {
		t.Fatal("a → b UDP does not arrive before any operation")
	}

	top.CutDirect(true)
	if udpReaches(t, top) {
		t.Error("cut direct: a → b still arrives")
	}
	if _, err := stunRTT(t, top, lab.SideA, time.Second); err != nil {
		t.Errorf("cut direct: the relay must stay reachable: %v", err)
	}
	top.CutDirect(false)
	if d := top.Drops(lab.SideA); d.Cut == 0 {
		t.Errorf("cut direct counted no drops: %+v", d)
	}

	if err := top.SetFirewall(lab.SideA, true); err != nil {
		t.Fatal(err)
	}
	if udpReaches(t, top) {
		t.Error("firewall relay-only: a → b still arrives")
	}
	if _, err := stunRTT(t, top, lab.SideA, time.Second); err != nil {
		t.Errorf("firewall relay-only: the relay must stay reachable: %v", err)
	}
	if err := top.SetFirewall(lab.SideA, false); err != nil {
		t.Fatal(err)
	}
	if !udpReaches(t, top) || top.Drops(lab.SideA).Firewall == 0 {
		t.Errorf("firewall off: a → b must arrive again, and drops be counted: %+v", top.Drops(lab.SideA))
	}

	if err := top.Silence(lab.SideA, true); err != nil {
		t.Fatal(err)
	}
	if _, err := stunRTT(t, top, lab.SideA, 500*time.Millisecond); err == nil {
		t.Error("silenced side still reached the relay")
	}
	if err := top.Silence(lab.SideA, false); err != nil {
		t.Fatal(err)
	}
	if d := top.Drops(lab.SideA); d.Silence == 0 {
		t.Errorf("silence counted no drops: %+v", d)
	}
	if err := top.Silence(lab.SideB, true); err == nil {
		t.Error("silence on a side without NAT: want ErrNoNAT")
	}

	ct, err := top.Conntrack(lab.SideA)
	if err != nil || !strings.Contains(ct, "dport=3478") {
		t.Fatalf("conntrack before rebind: %v\n%s", err, ct)
	}
	if _, err := top.Rebind(context.Background(), lab.SideA); err != nil {
		t.Fatal(err)
	}
	if ct, _ := top.Conntrack(lab.SideA); strings.Contains(ct, "dport=3478") {
		t.Errorf("rebind left the mappings:\n%s", ct)
	}

	var missing *lab.MissingError
	switch err := top.SetImpairment(lab.SideA, vnet.Impairment{Latency: 80 * time.Millisecond}); {
	case errors.As(err, &missing):
		// This kernel has no netem: latency is refused with what is
		// missing, never ignored.
		t.Logf("latency not available here: %v", err)
	case err != nil:
		t.Fatal(err)
	default:
		if rtt, err := stunRTT(t, top, lab.SideA, 2*time.Second); err != nil || rtt < 80*time.Millisecond {
			t.Errorf("latency 80ms: rtt %v, %v", rtt, err)
		}
	}
	if err := top.SetImpairment(lab.SideA, vnet.Impairment{LossPercent: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := stunRTT(t, top, lab.SideA, 500*time.Millisecond); err == nil {
		t.Error("loss 100%: still answered")
	}
	if err := top.Restore(lab.SideA); err != nil {
		t.Fatal(err)
	}
	if rtt, err := stunRTT(t, top, lab.SideA, 2*time.Second); err != nil || rtt > 60*time.Millisecond {
		t.Errorf("restored: rtt %v, %v", rtt, err)
	}
	if d := top.Drops(lab.SideA); d.Loss == 0 {
		t.Errorf("loss 100%% counted no drops: %+v", d)
	}
}

// TestFailedBuildLeavesNothing: a build that fails part way (latency on a
// kernel without netem fails after the namespaces exist) removes everything.
func TestFailedBuildLeavesNothing(t *testing.T) {
	labtest.Require(t)
	before := labtest.Namespaces()
	top, err := lab.Build(lab.Config{A: lab.Side{Preset: "port-restricted-cone", Latency: 20 * time.Millisecond, BandwidthBPS: 1_000_000}})
	var missing *lab.MissingError
	switch {
	case errors.As(err, &missing):
		t.Logf("build refused: %v", err)
	case err != nil:
		t.Fatal(err)
	default:
		// netem exists here: the build must have worked; nothing failed.
		_ = top.Close()
		t.Log("this kernel has netem; latency built")
	}
	if after := labtest.Namespaces(); !slices.Equal(before, after) {
		t.Errorf("namespaces before %v, after %v", before, after)
	}
	// Bandwidth alone needs only tbf.
	top2 := labtest.Build(t, lab.Config{A: lab.Side{Preset: "open", BandwidthBPS: 2_000_000}})
	if _, err := stunRTT(t, top2, lab.SideA, time.Second); err != nil {
		t.Errorf("2 Mbit/s link: %v", err)
	}
}
