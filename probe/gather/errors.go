package gather

import (
	"errors"

	"github.com/natkit/natkit/internal/configerr"
)

// Sentinel errors, for errors.Is.
var (
	// ErrConfig: a Config field is invalid (wrapped by *ConfigError).
	ErrConfig = errors.New("invalid gather config")
	// ErrAgent: pion's ICE agent could not be created or started.
	ErrAgent = errors.New("ice agent")
)

// ConfigError names the invalid Config field; its Kind is ErrConfig.
type ConfigError = configerr.Error
