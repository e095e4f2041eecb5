package call

import (
	"errors"
	"fmt"
)

// Errors returned by this package, for errors.Is.
var (
	// ErrBadConfig: a Config or PeerConfig holds an impossible value.
	ErrBadConfig = errors.New("bad call config")
	// ErrNotConnected: the call did not reach "connected" in time.
	ErrNotConnected = errors.New("call not connected")
	// ErrFailed: ICE or the peer connection went to "failed".
	ErrFailed = errors.New("call failed")
	// ErrClosed: the peer or signaling channel was closed.
	ErrClosed = errors.New("call closed")
	// ErrNoDataChannel: probes were asked for before the data channel opened.
	ErrNoDataChannel = errors.New("data channel not open")
	// ErrBadMessage: a signaling message could not be used.
	ErrBadMessage = errors.New("bad signaling message")
)

// ConfigError names a config field and what is wrong with it.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("call config %s: %s", e.Field, e.Reason) }

// Unwrap makes errors.Is(err, ErrBadConfig) true.
func (e *ConfigError) Unwrap() error { return ErrBadConfig }

// PeerError says which peer hit an error doing what.
type PeerError struct {
	Peer string
	Op   string
	Err  error
}

func (e *PeerError) Error() string { return fmt.Sprintf("peer %s: %s: %v", e.Peer, e.Op, e.Err) }

// Unwrap returns the underlying error.
func (e *PeerError) Unwrap() error { return e.Err }
