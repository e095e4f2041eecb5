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
}

// RunAll runs specs, o.Parallel at a time, each in its own network, and
// keeps their order. It returns ctx's error when ctx ended the suite, or
// a config error from o.
func RunAll(ctx context.Context, specs []*Spec, o Options) (*SuiteResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	s := &SuiteResult{Started: time.Now(), Runs: make([]SuiteRun, len(specs))}
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, spec := range specs {
		run := &s.Runs[i]
		run.Name = spec.Name
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
		wg.Add(1)
		go func(spec *Spec) {
			defer wg.Done()
			defer func() { <-sem }()
			run.Result, run.Err = Run(ctx, spec, o)
			run.Interrupted = run.Err != nil && ctx.Err() != nil
			if o.OnScenario != nil {
				o.OnScenario(*run)
			}
		}(spec)
	}
	wg.Wait()
	s.Duration = time.Since(s.Started)
	return s, ctx.Err()
}
