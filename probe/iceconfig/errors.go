package iceconfig

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, for errors.Is. They are wrapped by *FieldError or
// *ExpiredError, which say which input and field they concern.
var (
	// ErrNoServers: the input held no ICE server at all.
	ErrNoServers = errors.New("no ice servers")
	// ErrScheme: a URL scheme other than stun, turn or turns.
	ErrScheme = errors.New("invalid scheme")
	// ErrHost: a URL without a host, or with a malformed one.
	ErrHost = errors.New("invalid host")
	// ErrPort: a port that is not a number in 1..65535.
	ErrPort = errors.New("invalid port")
	// ErrTransport: a transport query other than udp or tcp, or a query on
	// a stun: URL.
	ErrTransport = errors.New("invalid transport")
	// ErrMissingCredentials: a turn: or turns: URL without a username or a
	// credential.
	ErrMissingCredentials = errors.New("turn server without credentials")
	// ErrCredentialType: a credentialType other than "password".
	ErrCredentialType = errors.New("unsupported credential type")
	// ErrJSON: the input is not JSON, or a field has the wrong JSON type.
	ErrJSON = errors.New("malformed json")
	// ErrShape: valid JSON that matches none of the known input forms.
	ErrShape = errors.New("unrecognised ice server input")
	// ErrTTL: a ttl that is neither a non-negative number nor a string
	// holding one.
	ErrTTL = errors.New("invalid ttl")
	// ErrSecret: a shared secret problem (empty, or nothing to apply it to).
	ErrSecret = errors.New("invalid shared secret use")
	// ErrTokenURL: the token URL could not be fetched or answered an error.
	ErrTokenURL = errors.New("token url")
	// ErrExpired: a REST username whose expiry time is already past.
	ErrExpired = errors.New("rest username already expired")
	// ErrConflict: input options that cannot be combined.
	ErrConflict = errors.New("conflicting inputs")
)

// FieldError says which input and field are wrong and why. Source names
// the input ("argument 2", "--ice-servers ice.json", "--token-url ...");
// Field is a JSON path such as "iceServers[1].urls[0]" (empty for a plain
// URL argument); Value is the offending value, never a secret.
type FieldError struct {
	Source string
	Field  string
	Value  string
	Err    error
}

func (e *FieldError) Error() string {
	msg := e.Source
	if e.Field != "" {
		if msg != "" {
			msg += ": "
		}
		msg += e.Field
	}
	if e.Value != "" {
		msg += fmt.Sprintf(" %q", e.Value)
	}
	if msg != "" {
		msg += ": "
	}
	return msg + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// ExpiredError reports a REST username (expiry:user) whose expiry is past.
type ExpiredError struct {
	Server   string
	Username string
	Expiry   time.Time
	Now      time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("%s: rest username %q expired at %s (%s ago); mint fresh credentials",
		e.Server, e.Username, e.Expiry.UTC().Format(time.RFC3339), e.Now.Sub(e.Expiry).Round(time.Second))
}

func (e *ExpiredError) Unwrap() error { return ErrExpired }

func fieldErr(source, field, value string, format string, args ...any) *FieldError {
	return &FieldError{Source: source, Field: field, Value: value, Err: fmt.Errorf(format, args...)}
}
