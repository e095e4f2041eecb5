package natbehavior

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, for errors.Is.
var (
	// ErrConfig: a Config field is invalid (wrapped by *ConfigError).
	ErrConfig = errors.New("invalid nat probe config")
	// ErrResolve: a server name did not resolve.
	ErrResolve = errors.New("cannot resolve server")
	// ErrNoAnswer: a STUN transaction got no answer (wrapped by
	// *NoAnswerError).
	ErrNoAnswer = errors.New("no answer")
	// ErrUnreachable: the server's port is unreachable (ICMP port
	// unreachable, seen as connection refused).
	ErrUnreachable = errors.New("port unreachable")
	// ErrErrorResponse: the server answered with a STUN error response
	// (wrapped by *ResponseError).
	ErrErrorResponse = errors.New("stun error response")
	// ErrBadResponse: a success response without a mapped address.
	ErrBadResponse = errors.New("malformed stun response")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("stun client closed")
)

// ConfigError names the invalid Config field.
type ConfigError struct {
	Field string
	Value string
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Msg)
	}
	return e.Field + ": " + e.Msg
}

func (e *ConfigError) Unwrap() error { return ErrConfig }

// NoAnswerError says a server did not answer a transaction.
type NoAnswerError struct {
	Server   string
	Requests int
	Waited   time.Duration
}

func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("stun %s: no answer to %d requests in %s", e.Server, e.Requests, e.Waited.Round(time.Millisecond))
}

func (e *NoAnswerError) Unwrap() error { return ErrNoAnswer }

// ResponseError is a STUN error response.
type ResponseError struct {
	Server string
	Code   int
	Reason string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("stun %s: error response %d %s", e.Server, e.Code, e.Reason)
}

func (e *ResponseError) Unwrap() error { return ErrErrorResponse }
