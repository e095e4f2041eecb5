package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/reports"
	"github.com/natkit/natkit/scenarios"
)

func init() { register(newLabCmd) }

func newLabCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Keep a kernel NAT topology (network namespaces, nftables) up for manual poking",
		Long: `lab builds the scenarios' topology from real Linux network namespaces: a WAN
namespace (203.0.113.0/24) with natkit relay on 203.0.113.1 and .2, and per
side a host (10.1.0.2, 10.2.0.2) behind router namespaces whose NAT is an
nftables preset. It needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the ip,
nft and tc programs; without them it exits 3 and says what to install.

Every namespace, link and nft table carries a run-unique prefix (nkXXXXXX-).
'lab clean' removes what a killed run left behind.`,
	}
	cmd.AddCommand(newLabUpCmd(a), newLabExecCmd(a), newLabDownCmd(a), newLabCleanCmd(a), newLabPresetsCmd(a))
	return cmd
}

// labError turns the lab's errors into exit codes: bad input 2, missing
// privileges or programs 3.
func labError(err error) error {
	var me *lab.MissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me):
		return err
	case errors.Is(err, lab.ErrConfig), errors.Is(err, lab.ErrUnknownPreset), errors.Is(err, lab.ErrNameTaken), errors.Is(err, lab.ErrUnknownSide):
		return usageError(err)
	}
	return err
}

// parseNATPair reads --nat A,B (one preset for both sides when alone).
func parseNATPair(v string) (string, string, error) {
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	switch {
	case len(parts) == 1 && parts[0] != "":
		return parts[0], parts[0], nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], nil
	}
	return "", "", usageErrorf("--nat %q: want PRESET or A,B (presets: %s)", v, strings.Join(lab.PresetNames(), ", "))
}

// labSide maps a scenario side onto the kernel backend, refusing what the
// kernel cannot honour.
func labSide(name string, s scenarios.SideSpec) (lab.Side, error) {
	if s.Mapping != "" || s.Filtering != "" {
		return lab.Side{}, usageErrorf("scenario side %s mapping/filtering: not available on the kernel backend; use a kernel preset (%s)", name, strings.Join(lab.PresetNames(), ", "))
	}
	if s.MappingLifetime != 0 {
		return lab.Side{}, usageErrorf("scenario side %s mapping_lifetime: not available on the kernel backend (the kernel's conntrack timeouts apply)", name)
	}
	return lab.Side{Preset: s.NAT, Latency: s.Latency.D(), Jitter: s.Jitter.D(), LossPercent: s.Loss, BandwidthBPS: int(s.Bandwidth)}, nil
}

func newLabUpCmd(a *app) *cobra.Command {
	var nat, preset, prefix string
	cmd := &cobra.Command{
		Use:   "up [SCENARIO] [--nat A,B]",
		Short: "Build a kernel topology and keep it up until Ctrl-C or 'natkit lab down'",
		Example: `  natkit lab up --nat linux-masquerade,port-restricted-cone
  natkit lab up --preset ipv6-only-nat64,port-restricted-cone
  natkit lab up port-restricted-both
  natkit lab exec a -- ip addr`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := lab.Config{Prefix: prefix, Logger: a.log()}
			switch {
			case nat != "" && preset != "":
				return usageErrorf("--preset is another name for --nat: give one of them")
			case preset != "":
				nat = preset
			}
			switch {
			case len(args) == 1 && nat != "":
				return usageErrorf("give a SCENARIO or --nat, not both")
			case len(args) == 1:
				spec, err := scenarios.Load(args[0])
				if err != nil {
					return usageError(err)
				}
				if cfg.A, err = labSide("a", spec.Topology.A); err != nil {
					return err
				}
				if cfg.B, err = labSide("b", spec.Topology.B); err != nil {
					return err
				}
				cfg.Relay = spec.Relay
				// lab up places no call: a command peer's program is the
				// user's to start, inside its side.
				for i, sp := range []scenarios.SideSpec{spec.Topology.A, spec.Topology.B} {
					if side := string(rune('a' + i)); sp.Peer == scenarios.PeerCommand {
						fmt.Fprintf(a.stderr, "side %s: peer: command is not started by lab up; run it with: natkit lab exec %s -- %s\n",
							side, side, strings.Join(sp.Command, " "))
					}
				}
			case nat != "":
				pa, pb, err := parseNATPair(nat)
				if err != nil {
					return err
				}
				cfg.A.Preset, cfg.B.Preset = pa, pb
			default:
				return usageErrorf("give a SCENARIO or --nat A,B")
			}
			// A closed stdout (natkit lab up | head) must not kill us
			// before we remove the topology: writes then fail instead.
			signal.Ignore(syscall.SIGPIPE)
			top, err := lab.Build(cfg)
			if err != nil {
				return labError(err)
			}
			defer top.Close()
			printLab(a, top)
			fmt.Fprintf(a.stdout, "ready: Ctrl-C or 'natkit lab down' removes it\n")
			<-cmd.Context().Done()
			if err := top.Close(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed %s*\n", top.Prefix())
			return nil
		},
	}
	cmd.Flags().StringVar(&nat, "nat", "", "kernel NAT presets of sides a and b, e.g. linux-masquerade,symmetric (one name for both)")
	cmd.Flags().StringVar(&preset, "preset", "", "the same as --nat")
	cmd.Flags().StringVar(&prefix, "prefix", "", "name prefix nkXXXXXX- (six hex digits); default random")
	return cmd
}

func printLab(a *app, top *lab.Topology) {
	w := a.stdout
	fmt.Fprintf(w, "lab %s\n", top.Prefix())
	ns := top.Namespaces()
	roles := make([]string, 0, len(ns))
	for r := range ns {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	for _, r := range roles {
		fmt.Fprintf(w, "  namespace %-4s %s\n", r, ns[r])
	}
	software := "natkit relay"
	if pid := top.RelayPID(); pid != 0 {
		software = fmt.Sprintf("coturn turnserver, pid %d", pid)
	}
	fmt.Fprintf(w, "  relay (%s): %s  %s  %s (RFC 5780 alternate %s)\n", software, top.STUNURL(), top.TURNURL(), top.TURNTCPURL(), lab.RelayAlt)
	if top.HostIPv6(lab.SideA) != nil || top.HostIPv6(lab.SideB) != nil {
		fmt.Fprintf(w, "  relay over IPv6: [%s]:%d and [%s]:%d (udp, tcp); name %s (A record only)\n", lab.RelayIP6, lab.RelayPort, lab.RelayAlt6, lab.RelayPort, lab.RelayName)
	}
	for _, side := range []string{lab.SideA, lab.SideB} {
		host := fmt.Sprint(top.HostIP(side))
		switch h6 := top.HostIPv6(side); {
		case h6 != nil && top.HostIP(side) == nil:
			host = h6.String() + " (IPv6 only)"
		case h6 != nil:
			host += " and " + h6.String()
		}
		fmt.Fprintf(w, "side %s: %s, host %s, public %s\n", side, top.Describe(side), host, top.PublicIP(side))
		if _, ok := top.NAT64Stats(side); ok {
			fmt.Fprintf(w, "  NAT64 %s → pool %s; the relay is %s from this side (DNS64 of %s in natkit's resolver; programs run with lab exec use the literal)\n",
				lab.NAT64Prefix, top.PublicIP(side), lab.Synthesize(netip.MustParseAddr(lab.RelayIP)), lab.RelayName)
		}
		for i, rs := range top.Rulesets(side) {
			fmt.Fprintf(w, "  router %d nftables ruleset:\n", i)
			for _, line := range strings.Split(strings.TrimRight(rs, "\n"), "\n") {
				fmt.Fprintf(w, "    %s\n", line)
			}
		}
	}
}

// liveRun picks the run to act on: --run, or the only live one.
func liveRun(prefix string) (lab.State, error) {
	runs, err := lab.Runs("")
	if err != nil {
		return lab.State{}, err
	}
	var names []string
	for _, r := range runs {
		if prefix == "" || r.Prefix == prefix || r.Prefix == prefix+"-" {
			if prefix != "" {
				return r, nil
			}
			names = append(names, r.Prefix)
		}
	}
	switch {
	case prefix != "":
		return lab.State{}, usageErrorf("--run %s: no live lab run with that prefix", prefix)
	case len(runs) == 0:
		return lab.State{}, usageErrorf("no lab is up; start one with 'natkit lab up'")
	case len(runs) > 1:
		return lab.State{}, usageErrorf("%d labs are up (%s): choose one with --run", len(runs), strings.Join(names, ", "))
	}
	return runs[0], nil
}

func newLabExecCmd(a *app) *cobra.Command {
	var runPrefix string
	cmd := &cobra.Command{
		Use:   "exec SIDE -- COMMAND [ARG...]",
		Short: "Run a command inside a namespace of the running lab (a, b, wan, ar0, ...)",
		Example: `  natkit lab exec a -- ip addr
  natkit lab exec ar0 -- nft list ruleset
  natkit lab exec a -- natkit nat --server 203.0.113.1`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := liveRun(runPrefix)
			if err != nil {
				return err
			}
			ns := st.Prefix + args[0]
			if !namespaceListed(ns) {
				return usageErrorf("side %q: no namespace %s in lab %s (try a, b, wan, ar0, br0)", args[0], ns, st.Prefix)
			}
			c := exec.Command(args[1], args[2:]...) //nolint:gosec // the user's own command
			c.Stdin, c.Stdout, c.Stderr = a.stdin, a.stdout, a.stderr
			if err := lab.StartIn(ns, c); err != nil {
				return err
			}
			if err := c.Wait(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					fmt.Fprintf(a.stderr, "natkit: lab exec: %s: %v\n", args[1], err)
					return &verdictErr{verdict: reports.VerdictFail}
				}
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&runPrefix, "run", "", "the lab run's prefix, when several are up")
	return cmd
}

func namespaceListed(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

func newLabDownCmd(a *app) *cobra.Command {
	var runPrefix string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the running 'natkit lab up' and wait until its namespaces are gone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := liveRun(runPrefix)
			if err != nil {
				return err
			}
			if err := syscall.Kill(st.PID, syscall.SIGTERM); err != nil {
				return fmt.Errorf("stop lab %s (pid %d): %w", st.Prefix, st.PID, err)
			}
			deadline := time.Now().Add(15 * time.Second)
			for namespaceListed(st.Namespaces["wan"]) {
				if time.Now().After(deadline) {
					return fmt.Errorf("lab %s (pid %d) still up after 15s; 'natkit lab clean' removes it once the process is gone", st.Prefix, st.PID)
				}
				time.Sleep(50 * time.Millisecond)
			}
			fmt.Fprintf(a.stdout, "removed %s*\n", st.Prefix)
			return nil
		},
	}
	cmd.Flags().StringVar(&runPrefix, "run", "", "the lab run's prefix, when several are up")
	return cmd
}

func newLabCleanCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "clean",
		Short: "Remove the namespaces (and their links and nft tables) of lab runs that are no longer alive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lab.Check(); err != nil {
				return err
			}
			removed, err := lab.Clean("")
			for _, n := range removed {
				fmt.Fprintf(a.stdout, "removed %s\n", n)
			}
			if len(removed) == 0 && err == nil {
				fmt.Fprintln(a.stdout, "nothing to clean")
			}
			return err
		},
	}
}

func newLabPresetsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "presets",
		Short: "List the kernel NAT presets and their behaviour",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, p := range lab.Presets() {
				fmt.Fprintf(a.stdout, "%-22s %s\n    %s\n", p.Name, p.Describe(), p.Why)
			}
			return nil
		},
	}
}

// checkKernel fails early, with what is missing (exit 3), when the kernel
// backend is asked for and the machine cannot run it.
func checkKernel(netName string) error {
	if netName != scenarios.NetKernel {
		return nil
	}
	return lab.Check()
}
