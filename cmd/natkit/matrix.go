package main

import (
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/scenarios"
	"github.com/natkit/natkit/vnet"
)

func init() { register(newMatrixCmd) }

func newMatrixCmd(a *app) *cobra.Command {
	var (
		out      outputFlags
		nats     []string
		turn     string
		parallel int
		timeout  time.Duration
		messages int
		iceMode  string
		netName  string
		repeat   int
		peers    []string
	)
	cmd := &cobra.Command{
		Use:   "matrix",
		Short: "Run every NAT-preset pair, with and without TURN, and compare each cell with theory",
		Long: `matrix places one call for every ordered pair of NAT presets (side a offers,
side b answers), with STUN only and/or with a TURN relay, each in its own
virtual network, and compares each cell with DESIGN.md's theory: a pair
connects directly unless one side is symmetric and the other filters by port;
with TURN every pair connects, and exactly those pairs use the relay.

A cell that differs from theory is a failed check (exit 1). The HTML report
colours the grid by path and links each cell to its call's timeline.

--repeat N places each cell's call N times: the report gives each cell's
success rate and time to connected (p50/p90/p99, with CDFs in HTML), and a
cell fails if any of its runs differs from theory. --peers adds an
implementation axis (pion is natkit's engine; other peer kinds need
--net kernel): every ordered pair of implementations over every preset
pair, and a finding where two pairs differ on the same cell.`,
		Example: `  natkit matrix
  natkit matrix --nat full-cone,symmetric --turn no
  natkit matrix --repeat 5 --report matrix.html
  natkit matrix --net kernel --peers pion,chromium
  natkit matrix --report matrix.html --report matrix.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			cfg := scenarios.MatrixConfig{
				TURN: turn, Parallel: parallel, ConnectTimeout: timeout, Messages: messages,
				Logger: vnetPionLogger(a), Net: netName, Repeat: repeat, Peers: splitList(peers),
			}
			if !cmd.Flags().Changed("parallel") {
				// The library's default: 8, or 1 when --peers names a browser.
				cfg.Parallel = 0
			}
			if repeat < 1 {
				return usageErrorf("--repeat %d: want 1 or more", repeat)
			}
			if err := checkKernel(netName); err != nil {
				return err
			}
			cfg.NATs = splitList(nats)
			switch iceMode {
			case "fast":
			case "browser":
				b := call.BrowserLikeICE()
				cfg.ICE = &b
				if timeout == 0 {
					cfg.ConnectTimeout = 40 * time.Second
				}
			default:
				return usageErrorf("--ice %q: want fast or browser", iceMode)
			}
			if parallel < 0 {
				return usageErrorf("--parallel %d: want 1 or more", parallel)
			}
			if messages < 0 {
				return usageErrorf("--messages %d: must not be negative", messages)
			}
			if timeout < 0 {
				return usageErrorf("--connect-timeout %v: must not be negative", timeout)
			}
			if err := cfg.Validate(); err != nil {
				var ce *scenarios.ConfigError
				if errors.As(err, &ce) {
					if ce.Value != "" {
						return usageErrorf("--%s %q: %v", ce.Field, ce.Value, ce.Err)
					}
					return usageErrorf("--%s: %v", ce.Field, ce.Err)
				}
				return usageError(err)
			}
			bar := a.progress(cmd.Context(), "matrix", cfg.Calls())
			cfg.Progress = func(c *scenarios.Cell, _, _ int) {
				if c.Match() {
					bar.Increment()
				} else {
					bar.Fail()
				}
			}
			res, err := scenarios.RunMatrix(cmd.Context(), cfg)
			bar.Done()
			if res == nil {
				return err
			}
			rep := res.Report()
			rep.Target = "vnet " + vnet.WANCIDR
			if netName == scenarios.NetKernel {
				rep.Target = "kernel " + lab.WANCIDR
			}
			if cmd.Context().Err() != nil {
				rep.Interrupt()
			}
			return a.emit(rep, &out)
		},
	}
	addOutputFlags(cmd, &out)
	f := cmd.Flags()
	f.StringSliceVar(&nats, "nat", nil, "NAT presets to pair, comma-separated (default: "+strings.Join(vnet.PresetNames(), ",")+")")
	f.StringVar(&turn, "turn", "both", "with a TURN relay: no, yes or both")
	f.IntVar(&parallel, "parallel", 8, "calls to run at once (default 1 when --peers names a browser: one browser per side at a time)")
	f.IntVar(&repeat, "repeat", 1, "place each cell's call this many times and report distributions (success rate, p50/p90/p99 time to connected)")
	f.StringSliceVar(&peers, "peers", nil, "implementations to pair, comma-separated: pion (natkit's engine) and, with --net kernel, chromium (default: pion)")
	f.DurationVar(&timeout, "connect-timeout", 0, "give up on a call that has not connected after this long (default 6s with --ice fast)")
	f.IntVar(&messages, "messages", 5, "data-channel probe messages per connected call")
	f.StringVar(&netName, "net", scenarios.NetVNet, "network backend: vnet (simulated, no root) or kernel (network namespaces and nftables; root; more presets: natkit lab presets)")
	f.StringVar(&iceMode, "ice", "fast", "ICE timers and acceptance waits: fast (tuned for the matrix) or browser (pion's defaults, slow to fail)")
	_ = cmd.RegisterFlagCompletionFunc("nat", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return vnet.PresetNames(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("peers", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{scenarios.PeerPion, "chromium"}, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("turn", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"no", "yes", "both"}, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("ice", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"fast", "browser"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// splitList flattens a repeatable, comma-separated flag and drops blanks.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
