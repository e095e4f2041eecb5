package scenarios

import (
	"errors"
	"fmt"
)

// Errors returned by this package, for errors.Is.
var (
	// ErrBadScenario: a scenario file or spec is malformed or impossible.
	ErrBadScenario = errors.New("bad scenario")
	// ErrUnknownScenario: no shipped scenario has that name.
	ErrUnknownScenario = errors.New("unknown scenario")
	// ErrBadMatrix: a matrix config holds an impossible value.
	ErrBadMatrix = errors.New("bad matrix config")
)

// ParseError points at the place in a scenario file that is wrong.
type ParseError struct {
	File   string
	Line   int
	Reason string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

// Unwrap makes errors.Is(err, ErrBadScenario) true.
func (e *ParseError) Unwrap() error { return ErrBadScenario }

// MatrixError names the matrix setting that is wrong.
type MatrixError struct {
	Field  string
	Reason string
}

func (e *MatrixError) Error() string { return fmt.Sprintf("matrix %s: %s", e.Field, e.Reason) }

// Unwrap makes errors.Is(err, ErrBadMatrix) true.
func (e *MatrixError) Unwrap() error { return ErrBadMatrix }
