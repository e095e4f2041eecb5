package audit

import (
	"errors"
	"fmt"

	"github.com/natkit/natkit/internal/configerr"
)

// Sentinel errors, for errors.Is.
var (
	// ErrConfig: a Config field is invalid (the Kind of *ConfigError).
	ErrConfig = errors.New("invalid audit config")
	// ErrNotTURN: the server is a stun: URL; an audit needs TURN.
	ErrNotTURN = errors.New("an audit needs a turn: or turns: server")
	// ErrSinkNotLocal: the --sink address is not an address of this host.
	ErrSinkNotLocal = errors.New("the sink must be an address of this host")
	// ErrUnreachable: the server gave no answer, or refused the connection.
	ErrUnreachable = errors.New("server unreachable")
	// ErrUnauthorized: the audit's own credentials were refused (401).
	ErrUnauthorized = errors.New("credentials refused")
	// ErrMalformed: an answer is not a well-formed STUN or TURN message.
	ErrMalformed = errors.New("malformed answer")
	// ErrNoAnswer: a transaction got no answer in time.
	ErrNoAnswer = errors.New("no answer")
)

// ConfigError names the invalid Config field; its Kind is ErrConfig.
type ConfigError = configerr.Error

func configErr(field, value, format string, args ...any) *ConfigError {
	return configerr.New(ErrConfig, "audit", field, value, format, args...)
}

// AnswerError is a STUN error response to one of the audit's requests.
type AnswerError struct {
	Request string // e.g. "Allocate"
	Code    int
	Reason  string
}

func (e *AnswerError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.Request, e.Code, e.Reason)
}

// StopError is what ended an audit before its checks ran: the server is
// unreachable or refused the audit's credentials.
type StopError struct {
	Server string
	Cause  Cause
	Err    error
}

func (e *StopError) Error() string { return fmt.Sprintf("audit %s: %v", e.Server, e.Err) }
func (e *StopError) Unwrap() error { return e.Err }
