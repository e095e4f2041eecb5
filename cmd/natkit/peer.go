package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/load"
)

func init() { register(newPeerCmd) }

func newPeerCmd(a *app) *cobra.Command {
	var cfg load.PeerConfig
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "peer [--listen HOST:PORT]",
		Short: "Run a UDP echo peer for relayed-traffic tests (like turnutils_peer)",
		Long: `natkit peer echoes every UDP datagram back to its sender. Point
natkit bench --peer (or turnutils_uclient -e) at it: packets go out through
the relay's allocation, and the echo comes back through it.

It runs until Ctrl-C or --duration, then prints how much it echoed and
exits 0: like natkit relay and natkit signal, it is a server, and being
stopped is how a server ends.
Remember that a relay only relays to a loopback or private peer when its
peer policy allows it (coturn: --allow-loopback-peers).`,
		Example: `  natkit peer --listen 127.0.0.1:3480
  natkit peer --listen 0.0.0.0:3480 --readers 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration < 0 {
				return usageErrorf("--duration %s: want a positive duration, or 0 to run until interrupted", duration)
			}
			if cfg.Readers < 1 || cfg.Readers > 64 {
				return usageErrorf("--readers %d: want 1..64", cfg.Readers)
			}
			p, err := load.ListenPeer(cfg)
			if err != nil {
				if errors.Is(err, load.ErrConfig) {
					return usageError(err)
				}
				return err
			}
			fmt.Fprintf(a.stdout, "natkit peer: echoing UDP on %s\n", p.Addr())
			a.log().Info("echo peer listening", "addr", p.Addr().String())
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			err = p.Serve(ctx)
			st := p.Stats()
			fmt.Fprintf(a.stdout, "natkit peer: echoed %d packets (%d bytes)\n", st.Packets, st.Bytes)
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("echo peer %s: %w", p.Addr(), err)
			}
			return nil // a server stopped by Ctrl-C or --duration: exit 0
		},
	}
	cmd.Flags().StringVar(&cfg.Listen, "listen", "127.0.0.1:3480", "UDP address to listen on")
	cmd.Flags().IntVar(&cfg.Readers, "readers", 1, "goroutines reading the socket (1..64)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this time (0: run until interrupted)")
	return cmd
}
