package lab

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/natkit/natkit/vnet"
)

// netemArgs is the netem qdisc for one direction, nil for none.
func netemArgs(latency, jitter time.Duration, loss float64, rateBPS int) []string {
	var args []string
	if latency > 0 || jitter > 0 {
		args = append(args, "delay", fmt.Sprintf("%dus", latency.Microseconds()))
		if jitter > 0 {
			args = append(args, fmt.Sprintf("%dus", jitter.Microseconds()))
		}
	}
	if loss > 0 {
		args = append(args, "loss", fmt.Sprintf("%g%%", loss))
	}
	if rateBPS > 0 {
		args = append(args, "rate", fmt.Sprintf("%dbit", rateBPS))
	}
	if args == nil {
		return nil
	}
	return append([]string{"root", "netem"}, args...)
}

// impairmentCmds adds the link's qdiscs to the build: latency, jitter,
// loss and bandwidth towards the host on the router's port; loss from the
// host on the host's port.
func (t *Topology) impairmentCmds(sd *side, latency time.Duration, loss float64, host, down *nsConfig) {
	if a := netemArgs(latency, sd.spec.Jitter, loss, sd.spec.BandwidthBPS); a != nil {
		down.tc = append(down.tc, append([]string{"qdisc", "replace", "dev", sd.downDev}, a...))
	}
	if a := netemArgs(0, 0, loss, 0); a != nil {
		host.tc = append(host.tc, append([]string{"qdisc", "replace", "dev", sd.upDev}, a...))
	}
}

// setQdisc replaces (or deletes) a device's netem.
func setQdisc(n *Net, dev string, args []string) error {
	if args == nil {
		_, err := run(n, "", "tc", "qdisc", "del", "dev", dev, "root")
		if err != nil && strings.Contains(err.Error(), "No such file") || err != nil && strings.Contains(err.Error(), "Cannot delete qdisc with handle of zero") {
			return nil
		}
		return err
	}
	_, err := run(n, "", append([]string{"tc", "qdisc", "replace", "dev", dev}, args...)...)
	return err
}

// SetImpairment replaces side's loss and latency (both directions' loss,
// the downlink's latency); Restore undoes it.
func (t *Topology) SetImpairment(sideName string, imp vnet.Impairment) error {
	sd, err := t.side(sideName)
	if err != nil {
		return err
	}
	if imp.LossPercent < 0 || imp.LossPercent > 100 {
		return configErr("impairment loss", "", "%g%%: want 0 to 100", imp.LossPercent)
	}
	if err := setQdisc(sd.downNet, sd.downDev, netemArgs(imp.Latency, sd.spec.Jitter, imp.LossPercent, sd.spec.BandwidthBPS)); err != nil {
		return err
	}
	return setQdisc(sd.host, sd.upDev, netemArgs(0, 0, imp.LossPercent, 0))
}

// Restore puts side's link back to its config.
func (t *Topology) Restore(sideName string) error {
	sd, err := t.side(sideName)
	if err != nil {
		return err
	}
	return t.SetImpairment(sideName, vnet.Impairment{LossPercent: sd.spec.LossPercent, Latency: sd.spec.Latency})
}

// qdiscDrops returns the packets dev's root qdisc dropped.
func qdiscDrops(n *Net, dev string) int {
	out, err := run(n, "", "tc", "-s", "-j", "qdisc", "show", "dev", dev)
	if err != nil {
		return 0
	}
	var qs []struct {
		Kind  string `json:"kind"`
		Drops int    `json:"drops"`
	}
	if json.Unmarshal([]byte(out), &qs) != nil {
		return 0
	}
	total := 0
	for _, q := range qs {
		if q.Kind == "netem" {
			total += q.Drops
		}
	}
	return total
}
