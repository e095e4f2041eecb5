package lab_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/natkit/natkit/lab"
	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/call"
)

// matrixCall places one matrix call the way natkit matrix does: a offers
// and holds its candidates until b's complete answer arrived.
// TURN over TCP is offered only when a side blocks UDP, as a user would:
// every extra URL is one more server-reflexive socket and more pairs to
// check within FastICE's acceptance waits.
func matrixCall(ctx context.Context, top *lab.Topology, turn, turnTCP bool) (*call.Result, error) {
	na, _ := top.Net(lab.SideA)
	nb, _ := top.Net(lab.SideB)
	// Each side reaches the relay its own way (an IPv6-only side by the
	// name its DNS64 resolves).
	servers := func(side string) []webrtc.ICEServer {
		s := []webrtc.ICEServer{{URLs: []string{top.STUNURLFor(side)}}}
		if turn {
			urls := top.TURNURLFor(side)
			if turnTCP {
				urls = append(urls, top.TURNTCPURL())
			}
			s = append(s, webrtc.ICEServer{URLs: urls, Username: "natkit", Credential: "natkit"})
		}
		return s
	}
	ice := call.FastICE()
	return call.Run(ctx, call.Config{
		A: call.PeerConfig{Name: "a", Net: na, ICEServers: servers(lab.SideA), ICE: &ice, CandidatesAfterAnswer: true, GatherTimeout: 2 * time.Second},
		// Behind udp-blocked, UDP STUN and TURN transactions time out
		// before gathering completes: answer with what is there by then.
		B:              call.PeerConfig{Name: "b", Net: nb, ICEServers: servers(lab.SideB), ICE: &ice, NoTrickle: true, GatherTimeout: 2 * time.Second},
		ConnectTimeout: 6 * time.Second,
		Probe:          call.ProbeConfig{Count: 3, Interval: 5 * time.Millisecond, Grace: time.Second},
	})
}

func observed(r *call.Result) string {
	switch {
	case r == nil || !r.Connected:
		return "failed"
	case r.Path.Direct():
		return "direct"
	case r.Path.Class == call.PathRelay:
		return "relay"
	}
	return "failed"
}

// kernelMatrix runs every ordered pair of presets with and without TURN,
// each call in its own namespaces, parallel at a time, and returns the
// cells that differ from lab.Expect.
func kernelMatrix(presets []string, parallel int) (cells int, bad []string) {
	type cell struct {
		a, b string
		turn bool
	}
	var all []cell
	for _, turn := range []bool{false, true} {
		for _, a := range presets {
			for _, b := range presets {
				all = append(all, cell{a, b, turn})
			}
		}
	}
	// Cells that theory says fail wait for the connect timeout: start them
	// first so that they overlap the rest.
	sort.SliceStable(all, func(i, j int) bool {
		wi, _ := lab.Expect(all[i].a, all[i].b, all[i].turn)
		wj, _ := lab.Expect(all[j].a, all[j].b, all[j].turn)
		return slices.Contains(wi, lab.PathFailed) && !slices.Contains(wj, lab.PathFailed)
	})
	sem := make(chan struct{}, parallel)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			want, _ := lab.Expect(c.a, c.b, c.turn)
			top, err := lab.Build(lab.Config{A: lab.Side{Preset: c.a}, B: lab.Side{Preset: c.b}})
			if err != nil {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s → %s turn %v: build: %v", c.a, c.b, c.turn, err))
				mu.Unlock()
				return
			}
			defer top.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pa, _ := lab.LookupPreset(c.a)
			pb, _ := lab.LookupPreset(c.b)
			r, err := matrixCall(ctx, top, c.turn, pa.UDPBlocked || pb.UDPBlocked)
			if got := observed(r); err != nil || !slices.Contains(want, got) {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s → %s turn %v: observed %s, theory %s (err %v)", c.a, c.b, c.turn, got, strings.Join(want, " or "), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(bad)
	return len(all), bad
}

// TestKernelMatrixMatchesTheory runs the kernel matrix over the classic
// five presets and linux-masquerade (NATKIT_LAB_MATRIX=all: every kernel
// preset) and compares each cell with lab.Expect. Four calls at a time:
// FastICE's acceptance waits assume an idle machine, and on a starved one
// a direct-capable pair can settle on the relay (the benchmark runs 8).
func TestKernelMatrixMatchesTheory(t *testing.T) {
	labtest.Require(t)
	presets := append(lab.ClassicPresetNames(), "linux-masquerade")
	if os.Getenv("NATKIT_LAB_MATRIX") == "all" {
		presets = lab.PresetNames()
	}
	start := time.Now()
	n, bad := kernelMatrix(presets, 4)
	t.Logf("%d cells in %v", n, time.Since(start).Round(time.Millisecond))
	if len(bad) > 0 {
		t.Errorf("%d of %d cells differ from theory:\n%s", len(bad), n, strings.Join(bad, "\n"))
	}
}
