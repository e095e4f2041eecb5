package relay

import (
	"errors"
	"fmt"

	"github.com/natkit/natkit/internal/configerr"
)

// Errors returned by New and by the Server methods. Use errors.Is.
var (
	// ErrConfig wraps every invalid Config field; the message names the field.
	ErrConfig = errors.New("relay config")
	// ErrListen means a listening socket could not be opened.
	ErrListen = errors.New("relay listen")
	// ErrUnsupported means the transport.Net cannot do what a listener needs
	// (for example TCP on pion's vnet).
	ErrUnsupported = errors.New("not supported by this network")
	// ErrNoCredentials means ICEServers was asked for credentials but the
	// relay has neither users nor shared secrets.
	ErrNoCredentials = errors.New("relay has no users and no shared secrets")
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("relay closed")

	// errDraining and errCapacity refuse new allocations (pion answers 508).
	errDraining = errors.New("relay is draining: no new allocations")
	errCapacity = errors.New("relay allocation limit reached")
)

// ConfigError names the Config field that is wrong, its value and why;
// errors.Is(err, ErrConfig) holds.
type ConfigError = configerr.Error

func configErr(field, value, format string, args ...any) error {
	return configerr.New(ErrConfig, "relay", field, value, format, args...)
}

// ListenError says which listener could not be opened.
type ListenError struct {
	Network, Addr string
	Err           error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("relay listen %s://%s: %v", e.Network, e.Addr, e.Err)
}

// Unwrap lets errors.Is(err, ErrListen) hold.
func (e *ListenError) Unwrap() []error { return []error{ErrListen, e.Err} }
