package call

import (
	"errors"
	"fmt"

	"github.com/natkit/natkit/internal/configerr"
)

// Errors returned by this package, for errors.Is.
var (
	// ErrConfig: a Config, PeerConfig or SoloConfig holds an impossible value.
	ErrConfig = errors.New("bad call config")
	// ErrNotConnected: the call did not reach "connected" in time.
	ErrNotConnected = errors.New("call not connected")
	// ErrFailed: ICE or the peer connection went to "failed".
	ErrFailed = errors.New("call failed")
	// ErrRelayRefusedPeer: every TURN permission the peer asked for was
	// refused (403): the relay's peer policy denies the other peer.
	ErrRelayRefusedPeer = errors.New("relay refused the peer address")
	// ErrClosed: the peer or signaling channel was closed.
	ErrClosed = errors.New("call closed")
	// ErrNoDataChannel: probes were asked for before the data channel opened.
	ErrNoDataChannel = errors.New("data channel not open")
	// ErrBadMessage: a signaling message could not be used.
	ErrBadMessage = errors.New("bad signaling message")
)

// ConfigError names a config field and what is wrong with it; errors.Is(err,
// ErrConfig) holds.
type ConfigError = configerr.Error

func configErrorf(field, format string, args ...any) *ConfigError {
	return configerr.New(ErrConfig, "call", field, "", format, args...)
}

// PeerError says which peer hit an error doing what.
type PeerError struct {
	Peer string
	Op   string
	Err  error
}

func (e *PeerError) Error() string { return fmt.Sprintf("peer %s: %s: %v", e.Peer, e.Op, e.Err) }

// Unwrap returns the underlying error.
func (e *PeerError) Unwrap() error { return e.Err }
