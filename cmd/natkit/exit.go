package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/natkit/natkit/reports"
)

// Exit codes, as in DESIGN.md. This file is the only place they are chosen.
const (
	exitPass        = 0
	exitCheckFailed = 1
	exitUsage       = 2
	exitCannotRun   = 3
	exitInterrupted = 130
)

// usageErr marks bad usage, config or input (exit 2).
type usageErr struct{ err error }

func (e *usageErr) Error() string { return e.err.Error() }
func (e *usageErr) Unwrap() error { return e.err }

// usageError wraps err as bad input.
func usageError(err error) error { return &usageErr{err: err} }

// usageErrorf builds a bad-input error; the message names the input.
func usageErrorf(format string, args ...any) error {
	return &usageErr{err: fmt.Errorf(format, args...)}
}

// verdictErr carries a non-passing report verdict to the exit code. The
// report already said everything, so it prints nothing more.
type verdictErr struct{ verdict reports.Verdict }

func (e *verdictErr) Error() string { return "verdict: " + string(e.verdict) }

func isSilent(err error) bool {
	var v *verdictErr
	return errors.As(err, &v)
}

func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return exitPass
	}
	var v *verdictErr
	if errors.As(err, &v) {
		switch v.verdict {
		case reports.VerdictInterrupted:
			return exitInterrupted
		case reports.VerdictFail:
			return exitCheckFailed
		case reports.VerdictPass, reports.VerdictWarn, reports.VerdictSkip:
			return exitPass
		default:
			return exitCannotRun
		}
	}
	var u *usageErr
	if errors.As(err, &u) {
		return exitUsage
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	return exitCannotRun
}
