package scenarios

import (
	"context"
	"sync"
	"time"
)

// SuiteResult is a run of several scenarios.
type SuiteResult struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	Runs     []SuiteRun    `json:"runs"`
}

// SuiteRun is one scenario of a suite.
type SuiteRun struct {
	Name   string  `json:"name"`
	Result *Result `json:"result,omitempty"`
	// Err is why the scenario could not run, or ended early.
	Err error `json:"-"`
	// Interrupted: the caller's context ended the run (before the
	// scenario started, when Result is nil).
	Interrupted bool `json:"interrupted,omitempty"`
	// Repeats are every run's result, in order, when Options.Repeat > 1
	// (nil for a run that never started); Result is then the first run
	// that failed its expectations, else the first.
	Repeats []*Result `json:"repeats,omitempty"`
	// Run numbers the repeat this SuiteRun is, from 1, in the calls of
	// Options.OnScenario (0 in a SuiteResult, which holds them all).
	Run int `json:"-"`
}

// RunAll runs specs, o.Parallel at a time, each in its own network, and
// keeps their order; with o.Repeat > 1 each spec runs that many times. It
// returns ctx's error when ctx ended the suite, or a config error from o.
func RunAll(ctx context.Context, specs []*Spec, o Options) (*SuiteResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	s := &SuiteResult{Started: time.Now(), Runs: make([]SuiteRun, len(specs))}
	runs := make([][]SuiteRun, len(specs))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, spec := range specs {
		runs[i] = make([]SuiteRun, o.Repeat)
		for k := range runs[i] {
			run := &runs[i][k]
			run.Name = spec.Name
			if o.Repeat > 1 {
				run.Run = k + 1
			}
			// Take the slot here, not in the goroutine, so that scenarios
			// start in their order.
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				run.Err, run.Interrupted = ctx.Err(), true
				continue
			}
			sp := spec
			if k > 0 {
				cp := *spec
				cp.Topology.Seed = max(spec.Topology.Seed, 1) + int64(k)
				sp = &cp
			}
			wg.Add(1)
			go func(spec *Spec) {
				defer wg.Done()
				defer func() { <-sem }()
				run.Result, run.Err = Run(ctx, spec, o)
				run.Interrupted = run.Err != nil && ctx.Err() != nil
				if o.OnScenario != nil {
					o.OnScenario(*run)
				}
			}(sp)
		}
	}
	wg.Wait()
	for i := range specs {
		s.Runs[i] = foldRepeats(runs[i])
	}
	s.Duration = time.Since(s.Started)
	return s, ctx.Err()
}

// foldRepeats makes one SuiteRun of a scenario's repeats: the first that
// failed (else the first) stands for them, and Repeats holds them all.
func foldRepeats(runs []SuiteRun) SuiteRun {
	if len(runs) == 1 {
		return runs[0]
	}
	shown := runs[0]
	for _, r := range runs {
		if r.Result != nil && !r.Interrupted && !r.Result.Passed() {
			shown = r
			break
		}
	}
	out := shown
	out.Run = 0
	out.Repeats = make([]*Result, len(runs))
	for k, r := range runs {
		out.Repeats[k] = r.Result
		if r.Interrupted {
			out.Interrupted = true
			out.Err = r.Err
		}
		if out.Err == nil && r.Err != nil {
			out.Err = r.Err
		}
	}
	return out
}
