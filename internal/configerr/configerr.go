// Package configerr is the one shape of a Config validation error. Each
// package aliases it as its own ConfigError and sets Kind to its ErrConfig
// sentinel, so errors.Is(err, pkg.ErrConfig) and errors.As(err,
// &*pkg.ConfigError) both hold without six hand copies.
package configerr

import "fmt"

// Error names the component, the Config field (or flag) that is wrong, its
// value when that helps, and why.
type Error struct {
	Component string // "relay", "gather", … (the message's first word)
	Field     string
	Value     string // empty when the value says nothing (or is a secret)
	Err       error  // why
	Kind      error  // the package's ErrConfig sentinel
}

func (e *Error) Error() string {
	prefix := e.Field
	if e.Component != "" {
		prefix = e.Component + " config " + e.Field
	}
	if e.Value != "" {
		return fmt.Sprintf("%s %q: %v", prefix, e.Value, e.Err)
	}
	return fmt.Sprintf("%s: %v", prefix, e.Err)
}

// Unwrap lets errors.Is match both the package's sentinel and the cause.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2)
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// New builds an Error with a formatted reason.
func New(kind error, component, field, value, format string, args ...any) *Error {
	return &Error{Component: component, Field: field, Value: value, Err: fmt.Errorf(format, args...), Kind: kind}
}
