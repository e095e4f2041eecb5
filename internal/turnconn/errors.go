package turnconn

import (
	"errors"
	"fmt"
)

// Errors for errors.Is.
var (
	// ErrConfig marks a Config that cannot be dialled.
	ErrConfig = errors.New("invalid turn connection config")
	// ErrConnect is a failed TCP connect or UDP socket.
	ErrConnect = errors.New("connect failed")
	// ErrHandshake is a failed TLS or DTLS handshake.
	ErrHandshake = errors.New("handshake failed")
)

// DialError is one failed dial: the connect, or the TLS/DTLS handshake
// (Handshake true) after it.
type DialError struct {
	Network   string // udp, tcp, tls or dtls
	Addr      string
	Handshake bool
	Err       error
}

func (e *DialError) Error() string {
	if e.Handshake {
		return fmt.Sprintf("%s handshake with %s: %v", e.Network, e.Addr, e.Err)
	}
	return fmt.Sprintf("%s connect to %s: %v", e.Network, e.Addr, e.Err)
}

// Unwrap matches ErrConnect or ErrHandshake, and the cause.
func (e *DialError) Unwrap() []error {
	kind := ErrConnect
	if e.Handshake {
		kind = ErrHandshake
	}
	return []error{kind, e.Err}
}
