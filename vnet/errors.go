package vnet

import (
	"errors"
	"fmt"
)

// Errors returned by this package, for errors.Is.
var (
	// ErrUnknownPreset: a side names a NAT preset that does not exist.
	ErrUnknownPreset = errors.New("unknown nat preset")
	// ErrBadSpec: a topology spec holds an impossible value.
	ErrBadSpec = errors.New("bad topology spec")
	// ErrUnknownSide: a side other than "a" or "b" was named.
	ErrUnknownSide = errors.New("unknown side")
	// ErrNoNAT: a NAT operation (silence, rebind) on a side without a NAT.
	ErrNoNAT = errors.New("side has no nat")
	// ErrClosed: the topology was already closed.
	ErrClosed = errors.New("topology closed")
)

// SpecError names the field of a topology spec that is wrong and why.
type SpecError struct {
	Field  string
	Reason string
}

func (e *SpecError) Error() string { return fmt.Sprintf("topology %s: %s", e.Field, e.Reason) }

// Unwrap makes errors.Is(err, ErrBadSpec) true.
func (e *SpecError) Unwrap() error { return ErrBadSpec }

// BuildError says which part of the virtual network could not be built.
type BuildError struct {
	Part string
	Err  error
}

func (e *BuildError) Error() string { return fmt.Sprintf("build vnet %s: %v", e.Part, e.Err) }

// Unwrap returns the underlying error.
func (e *BuildError) Unwrap() error { return e.Err }
