package signalserver

import (
	"errors"
	"fmt"

	"github.com/natkit/natkit/internal/configerr"
)

// Errors returned by the server, its hubs and its config.
var (
	// ErrRoomFull: the room already holds its capacity of peers.
	ErrRoomFull = errors.New("room is full")
	// ErrPeerTaken: a peer with that id is already in the room.
	ErrPeerTaken = errors.New("peer id already in use in the room")
	// ErrUnknownPeer: the addressed peer is not in the sender's room.
	ErrUnknownPeer = errors.New("no such peer in the room")
	// ErrHubClosed: the hub was closed.
	ErrHubClosed = errors.New("hub closed")
	// ErrBadToken: a room token is malformed, badly signed, expired or for
	// another room.
	ErrBadToken = errors.New("bad room token")
	// ErrServerClosed: Serve was called after Close.
	ErrServerClosed = errors.New("signal server closed")
	// ErrConfig: a Config field is invalid (the Kind of *ConfigError).
	ErrConfig = errors.New("invalid signal server config")
)

// ConfigError names the Config field that is wrong; its Kind is ErrConfig.
type ConfigError = configerr.Error

func configErrorf(field, format string, args ...any) error {
	return configerr.New(ErrConfig, "signal", field, "", format, args...)
}

// HubError wraps a failure of the hub's backend (Redis).
type HubError struct {
	Op  string
	Err error
}

func (e *HubError) Error() string { return fmt.Sprintf("signal hub %s: %v", e.Op, e.Err) }
func (e *HubError) Unwrap() error { return e.Err }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
