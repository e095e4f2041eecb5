package vnet

import (
	"errors"
	"fmt"

	"github.com/natkit/natkit/internal/configerr"
)

// Errors returned by this package, for errors.Is.
var (
	// ErrUnknownPreset: a side names a NAT preset that does not exist.
	ErrUnknownPreset = errors.New("unknown nat preset")
	// ErrConfig: a topology Spec holds an impossible value.
	ErrConfig = errors.New("bad topology spec")
	// ErrUnknownSide: a side other than "a" or "b" was named.
	ErrUnknownSide = errors.New("unknown side")
	// ErrNoNAT: a NAT operation (silence, rebind) on a side without a NAT.
	ErrNoNAT = errors.New("side has no nat")
	// ErrClosed: the topology was already closed.
	ErrClosed = errors.New("topology closed")
)

// ConfigError names the field of a Spec that is wrong and why;
// errors.Is(err, ErrConfig) holds.
type ConfigError = configerr.Error

func specErrorf(field, format string, args ...any) *ConfigError {
	return configerr.New(ErrConfig, "vnet", field, "", format, args...)
}

// BuildError says which part of the virtual network could not be built.
type BuildError struct {
	Part string
	Err  error
}

func (e *BuildError) Error() string { return fmt.Sprintf("build vnet %s: %v", e.Part, e.Err) }

// Unwrap returns the underlying error.
func (e *BuildError) Unwrap() error { return e.Err }
