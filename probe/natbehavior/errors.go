package natbehavior

import (
	"errors"
	"fmt"
	"time"

	"github.com/natkit/natkit/internal/configerr"
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

// ConfigError names the invalid Config field; its Kind is ErrConfig.
type ConfigError = configerr.Error

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
