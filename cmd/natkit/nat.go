package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/natbehavior"
)

func init() { register(newNatCmd) }

type natFlags struct {
	server      string
	altServer   string
	local       string
	hairpin     bool
	lifetime    bool
	lifetimeMax time.Duration
	timeout     time.Duration
}

func newNatCmd(a *app) *cobra.Command {
	var f natFlags
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "nat --server HOST:PORT",
		Short: "Classify NAT mapping and filtering behaviour (RFC 5780) and explain what it means for calls",
		Long: `nat runs the RFC 5780 tests against a STUN server that supports them
(natkit relay with --alt-ip, or coturn listening on two IPs): mapping tests
I-III, filtering tests I-III on a fresh socket, and, when asked, the
hairpinning test and binding-lifetime discovery (bounded by --lifetime-max,
reported as a range). It reports the mapping (EIM/ADM/APDM or no NAT), the
filtering (EIF/ADF/APDF), the public address, port preservation, the
classic RFC 3489 name and what that means for calls.

When the server gives no OTHER-ADDRESS, nat says so: with --alt-server it
compares the mappings two independent servers see, and it reports
filtering as not determined rather than guessing.`,
		Example: `  natkit nat --server 127.0.0.1:3478
  natkit nat --server stun.example.org:3478 --hairpin --lifetime --lifetime-max 2m
  natkit nat --server stun1.example.org:3478 --alt-server stun2.example.net:3478`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNat(cmd, a, &f, &out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "RFC 5780 STUN server HOST:PORT (required; port defaults to 3478)")
	fl.StringVar(&f.altServer, "alt-server", "", "an independent second STUN server HOST:PORT, used when --server lacks OTHER-ADDRESS")
	fl.StringVar(&f.local, "local", natbehavior.DefaultLocal, "local IP:PORT for the mapping test")
	fl.BoolVar(&f.hairpin, "hairpin", false, "also test hairpinning (RFC 5780 §4.5)")
	fl.BoolVar(&f.lifetime, "lifetime", false, "also discover the binding lifetime (RFC 5780 §4.6), up to --lifetime-max")
	fl.DurationVar(&f.lifetimeMax, "lifetime-max", natbehavior.DefaultLifetimeMax, "longest binding lifetime to probe for (with --lifetime)")
	fl.DurationVar(&f.timeout, "timeout", natbehavior.DefaultTimeout, "bound for the whole run, lifetime discovery excluded")
	addOutputFlags(cmd, &out)
	return cmd
}

func runNat(cmd *cobra.Command, a *app, f *natFlags, out *outputFlags) error {
	if err := out.validate(); err != nil {
		return err
	}
	if f.server == "" {
		return usageErrorf("--server: required: the HOST:PORT of an RFC 5780 STUN server")
	}
	if f.timeout <= 0 {
		return usageErrorf("--timeout %s: must be positive", f.timeout)
	}
	if f.lifetimeMax <= 0 {
		return usageErrorf("--lifetime-max %s: must be positive", f.lifetimeMax)
	}
	if cmd.Flags().Changed("lifetime-max") && !f.lifetime {
		return usageErrorf("--lifetime-max: only applies with --lifetime")
	}
	ctx := cmd.Context()
	res, err := natbehavior.Run(ctx, natbehavior.Config{
		Server: f.server, AltServer: f.altServer, Local: f.local,
		Hairpin: f.hairpin, Lifetime: f.lifetime, LifetimeMax: f.lifetimeMax, Timeout: f.timeout,
	})
	var ce *natbehavior.ConfigError
	if errors.As(err, &ce) {
		return usageErrorf("--%s", ce.Error())
	}
	if errors.Is(err, natbehavior.ErrResolve) && ctx.Err() == nil {
		return usageErrorf("--server %q: %v", f.server, err)
	}
	return a.emit(res.Report(), out)
}
