package gather

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrConfig: a Config field is invalid (wrapped by *ConfigError).
	ErrConfig = errors.New("invalid gather config")
	// ErrAgent: pion's ICE agent could not be created or started.
	ErrAgent = errors.New("ice agent")
)

// ConfigError names the invalid Config field.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Msg) }

func (e *ConfigError) Unwrap() error { return ErrConfig }
