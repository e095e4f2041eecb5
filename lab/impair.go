package lab

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/natkit/natkit/vnet"
)

// Impairments: loss is nftables (numgen random) on the ingress of both ends
// of the side's access link, so it needs nothing beyond nf_tables; the
// bandwidth limit is a tbf qdisc on the router's port towards the host;
// latency and jitter need the netem qdisc (sch_netem), which some kernels
// lack: then asking for them is a *MissingError.

// lossTable is the side's loss table name; one per side and namespace.
func (t *Topology) lossTable(side string) string { return t.table() + "_loss_" + side }

// lossRuleset creates the loss table on dev with no loss.
func lossRuleset(table, dev string) string {
	return fmt.Sprintf(`table netdev %s {
	counter lost { }
	chain ingress {
		type filter hook ingress device "%s" priority 0; policy accept;
	}
}
`, table, dev)
}

// lossRules replaces the loss rule of both link ends' tables.
func lossRules(table string, percent float64) string {
	s := "flush chain netdev " + table + " ingress\n"
	switch n := int(percent*100 + 0.5); {
	case n >= 10000:
		s += fmt.Sprintf("add rule netdev %s ingress counter name lost drop\n", table)
	case n > 0:
		s += fmt.Sprintf("add rule netdev %s ingress numgen random mod 10000 < %d counter name lost drop\n", table, n)
	}
	return s
}

// linkQdisc is the downlink qdisc: netem for delay (with the rate inside
// it), else tbf for the rate alone, else none.
func linkQdisc(latency, jitter time.Duration, rateBPS int) []string {
	if latency > 0 || jitter > 0 {
		args := []string{"root", "netem", "delay", fmt.Sprintf("%dus", latency.Microseconds())}
		if jitter > 0 {
			args = append(args, fmt.Sprintf("%dus", jitter.Microseconds()))
		}
		if rateBPS > 0 {
			args = append(args, "rate", fmt.Sprintf("%dbit", rateBPS))
		}
		return args
	}
	if rateBPS > 0 {
		burst := max(rateBPS/80, 12*1500) // bytes: 100 ms of rate, at least 12 packets
		return []string{"root", "tbf", "rate", fmt.Sprintf("%dbit", rateBPS), "burst", fmt.Sprint(burst), "latency", "200ms"}
	}
	return nil
}

// impairmentCmds adds the side's link impairments to the build.
func (t *Topology) impairmentCmds(sd *side, host, down *nsConfig) {
	tbl := t.lossTable(sd.name)
	host.nft += lossRuleset(tbl, sd.upDev) + lossRules(tbl, sd.spec.LossPercent)
	down.nft += lossRuleset(tbl, sd.downDev) + lossRules(tbl, sd.spec.LossPercent)
	if q := linkQdisc(sd.spec.Latency, sd.spec.Jitter, sd.spec.BandwidthBPS); q != nil {
		down.tc = append(down.tc, append([]string{"qdisc", "replace", "dev", sd.downDev}, q...))
	}
}

// setQdisc replaces (or deletes) a device's root qdisc.
func setQdisc(n *Net, dev string, args []string) error {
	if args == nil {
		_, err := run(n, "", "tc", "qdisc", "del", "dev", dev, "root")
		if err != nil && (strings.Contains(err.Error(), "No such file") || strings.Contains(err.Error(), "handle of zero")) {
			return nil
		}
		return err
	}
	_, err := run(n, "", append([]string{"tc", "qdisc", "replace", "dev", dev}, args...)...)
	return qdiscError(err)
}

// qdiscError turns "unknown qdisc kind" into what is missing.
func qdiscError(err error) error {
	if err != nil && strings.Contains(err.Error(), "Specified qdisc kind is unknown") {
		return &MissingError{Missing: []Missing{{What: "kernel qdisc netem (sch_netem, CONFIG_NET_SCH_NETEM) for latency and jitter", Package: "linux-image-amd64"}}}
	}
	return err
}

// SetImpairment replaces side's loss (both directions) and latency
// (towards the host); Restore undoes it.
func (t *Topology) SetImpairment(sideName string, imp vnet.Impairment) error {
	sd, err := t.side(sideName)
	if err != nil {
		return err
	}
	if imp.LossPercent < 0 || imp.LossPercent > 100 {
		return configErr("impairment loss", "", "%g%%: want 0 to 100", imp.LossPercent)
	}
	tbl := t.lossTable(sideName)
	for _, n := range []*Net{sd.host, sd.downNet} {
		if _, err := run(n, lossRules(tbl, imp.LossPercent), "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return setQdisc(sd.downNet, sd.downDev, linkQdisc(imp.Latency, sd.spec.Jitter, sd.spec.BandwidthBPS))
}

// Restore puts side's link back to its config.
func (t *Topology) Restore(sideName string) error {
	sd, err := t.side(sideName)
	if err != nil {
		return err
	}
	return t.SetImpairment(sideName, vnet.Impairment{LossPercent: sd.spec.LossPercent, Latency: sd.spec.Latency})
}

// lossDrops returns the packets side's loss rules dropped.
func (t *Topology) lossDrops(sd *side) int {
	a, _ := readCounter(sd.host, "netdev", t.lossTable(sd.name), "lost")
	b, _ := readCounter(sd.downNet, "netdev", t.lossTable(sd.name), "lost")
	return a + b
}

// qdiscDrops returns the packets dev's root qdisc dropped (a full tbf
// queue).
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
		if q.Kind == "netem" || q.Kind == "tbf" {
			total += q.Drops
		}
	}
	return total
}
