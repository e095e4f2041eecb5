//go:build linux

package udpbatch

import (
	"errors"

	"github.com/natkit/natkit/internal/configerr"
)

// ErrConfig is the Kind of every ConfigError that New returns.
var ErrConfig = errors.New("invalid udpbatch config")

// ConfigError names the Config field that is wrong and why.
type ConfigError = configerr.Error
