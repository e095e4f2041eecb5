package load

import (
	"errors"
	"fmt"

	"github.com/natkit/natkit/internal/configerr"
)

// Errors for errors.Is.
var (
	// ErrConfig marks an invalid Config; the wrapped ConfigError names the field.
	ErrConfig = errors.New("invalid load config")
	// ErrTimeout is a TURN request that got no response in time.
	ErrTimeout = errors.New("no response")
	// ErrUnauthorized is returned when every allocation was refused with
	// 401 although credentials were sent: they are wrong or expired.
	ErrUnauthorized = errors.New("every allocate was refused with 401 Unauthorized")
	// ErrUnreachable is returned when the server answered no request at all.
	ErrUnreachable = errors.New("the server answered no request")
	// ErrTCPUnsupported: every TCP Allocate (Config.TCPAllocations) got
	// 442, the server does not relay TCP (RFC 6062).
	ErrTCPUnsupported = errors.New("the server does not relay TCP")
	// ErrMalformed is a response the client could not parse.
	ErrMalformed = errors.New("malformed turn response")
	// ErrClosed is returned for requests on a closed allocation.
	ErrClosed = errors.New("allocation closed")
	// ErrPeerAddress is a peer address that cannot be used.
	ErrPeerAddress = errors.New("bad peer address")
	// ErrPeerFamily: the relay gave relayed addresses of one family and
	// the echo peer (Config.Peer) is of the other; no relay can relay
	// between them (RFC 6156: 443).
	ErrPeerFamily = errors.New("the peer and the relayed address are of different address families")
)

// PeerFamilyError is ErrPeerFamily with the addresses: the command exits
// 2 on it, since the flags, not the relay, are wrong.
type PeerFamilyError struct {
	Relayed string // the first relayed address
	Peer    string // Config.Peer as given
	// IPv6 is true when the relayed address is IPv6 (the peer is IPv4).
	IPv6 bool
}

func (e *PeerFamilyError) Error() string {
	have, want, other := "IPv4", "IPv6", FamilyIPv6
	if e.IPv6 {
		have, want, other = "IPv6", "IPv4", FamilyIPv4
	}
	return fmt.Sprintf("--peer %s is %s but the relay gave the %s relayed address %s: a relay relays between addresses of one family only (RFC 6156 answers 443); give an %s --peer, or --relay-family %s (REQUESTED-ADDRESS-FAMILY) if the relay has %s relayed addresses",
		e.Peer, want, have, e.Relayed, have, other, want)
}

// Unwrap makes errors.Is(err, ErrPeerFamily) true.
func (e *PeerFamilyError) Unwrap() error { return ErrPeerFamily }

// ConfigError names the Config field (or flag) that is wrong and why; its
// Kind is ErrConfig.
type ConfigError = configerr.Error

// ResponseError is a TURN error response.
type ResponseError struct {
	Method string // e.g. "allocate"
	Server string
	Code   int
	Reason string
}

func (e *ResponseError) Error() string {
	msg := fmt.Sprintf("turn %s %s: %d %s", e.Method, e.Server, e.Code, e.Reason)
	if hint := codeHint(e.Code); hint != "" {
		msg += ": " + hint
	}
	return msg
}

// codeHint says what an error code means for a load test.
func codeHint(code int) string {
	switch code {
	case 400:
		return "the server rejected the request as malformed"
	case 401:
		return "wrong username or password, or expired credentials"
	case 403:
		return "forbidden: the server's peer policy refused the peer address"
	case 437:
		return "allocation mismatch: this 5-tuple has no (or another) allocation"
	case 438:
		return "stale nonce"
	case 441:
		return "wrong credentials for this allocation"
	case 440:
		return "address family not supported: the relay has no relayed address of the family asked for (--relay-family)"
	case 442:
		return "unsupported transport protocol: for a TCP allocation, the server does not relay TCP (RFC 6062)"
	case 443:
		return "peer address family mismatch: the peer is of another family than the relayed address"
	case 446:
		return "connection already exists: this allocation is already connected to that peer"
	case 447:
		return "connection timeout or failure: the relay could not connect to the peer"
	case 486:
		return "allocation quota reached for this user or server"
	case 508:
		return "insufficient capacity: the server has no relay port left"
	}
	return ""
}

// TimeoutError is a request that got no response in time.
type TimeoutError struct {
	Method string
	Server string
	After  string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("turn %s %s: no response within %s", e.Method, e.Server, e.After)
}

// Unwrap makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// ErrTLS is returned when the TLS (or DTLS) handshake with the server
// failed for every allocation: its certificate is not trusted
// (Config.TLSConfig), or it does not speak TLS on that port.
var ErrTLS = errors.New("the TLS handshake with the server failed")

// TLSError is one failed TLS or DTLS handshake.
type TLSError struct {
	Server string
	// Network is "tls" or "dtls".
	Network string
	// Problem names the cause in words (unknown authority, wrong name,
	// expired, not TLS at all…), as gather and audit word it.
	Problem string
	Err     error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("%s handshake with %s: %s (%v)", e.Network, e.Server, e.Problem, e.Err)
}

// Unwrap makes errors.Is(err, ErrTLS) true and keeps the cause.
func (e *TLSError) Unwrap() []error { return []error{ErrTLS, e.Err} }

// ErrServerStopped is returned when a running server stopped answering.
var ErrServerStopped = errors.New("the server stopped answering")

// ErrMissingMetric: a report lacks a metric an SLO is judged on.
var ErrMissingMetric = errors.New("missing metric")

// MissingMetricError names the report and the metric it lacks.
type MissingMetricError struct {
	Report string
	Metric string
}

func (e *MissingMetricError) Error() string {
	return fmt.Sprintf("%v: report %q has no %q metric, so the SLO cannot be judged on it (is it a natkit bench report?)", ErrMissingMetric, e.Report, e.Metric)
}

// Unwrap makes errors.Is(err, ErrMissingMetric) true.
func (e *MissingMetricError) Unwrap() error { return ErrMissingMetric }
