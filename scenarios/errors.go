package scenarios

import (
	"errors"
	"fmt"

	"github.com/natkit/natkit/internal/configerr"
)

// Errors returned by this package, for errors.Is.
var (
	// ErrBadScenario: a scenario file or spec is malformed or impossible.
	ErrBadScenario = errors.New("bad scenario")
	// ErrUnknownScenario: no shipped scenario has that name.
	ErrUnknownScenario = errors.New("unknown scenario")
	// ErrConfig: a MatrixConfig or Options holds an impossible value.
	ErrConfig = errors.New("bad scenarios config")
	// ErrUnknownBackend: Options.Net names no network backend.
	ErrUnknownBackend = errors.New("unknown network backend")
	// ErrBackendUnavailable: Options.Net names a backend this build lacks.
	ErrBackendUnavailable = errors.New("network backend not available")
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

// ConfigError names the MatrixConfig or Options field that is wrong (its
// flag name, e.g. "nat"); errors.Is(err, ErrConfig) holds.
type ConfigError = configerr.Error

func configErrorf(field, value, format string, args ...any) *ConfigError {
	return configerr.New(ErrConfig, "", field, value, format, args...)
}

// NoCallResultError: a matrix cell placed as a scenario ended without the
// call's result (scenarios.Result.Call), which the matrix judges.
type NoCallResultError struct {
	Cell string
}

func (e *NoCallResultError) Error() string {
	return fmt.Sprintf("matrix cell %s: the scenario gave no call result to judge (Result.Call is nil)", e.Cell)
}
