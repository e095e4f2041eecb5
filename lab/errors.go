package lab

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/natkit/natkit/internal/configerr"
)

// Errors returned by this package, for errors.Is.
var (
	// ErrConfig: a Config field is invalid (wrapped by *ConfigError).
	ErrConfig = errors.New("invalid lab config")
	// ErrUnknownPreset: a side names a kernel NAT preset that does not exist.
	ErrUnknownPreset = errors.New("unknown kernel nat preset")
	// ErrUnknownSide: a side other than "a" or "b" was named.
	ErrUnknownSide = errors.New("unknown side")
	// ErrNoNAT: a NAT operation (silence, rebind) on a side without a NAT.
	ErrNoNAT = errors.New("side has no nat")
	// ErrClosed: the topology was already closed.
	ErrClosed = errors.New("lab topology closed")
	// ErrMissing: the machine lacks a privilege or a program the lab needs
	// (wrapped by *MissingError). The command exits 3.
	ErrMissing = errors.New("lab cannot run here")
	// ErrNameTaken: another run already owns the namespace names.
	ErrNameTaken = errors.New("lab names already in use")
)

// Why the NAT64 translator drops a packet; counted by reason in
// NAT64Stats.Dropped (the text is the key).
var (
	errNAT64Malformed   = errors.New("malformed packet")
	errNAT64NotOurs     = errors.New("destination outside the prefix or pool")
	errNAT64Protocol    = errors.New("protocol not translated (UDP, TCP, ICMP echo and errors are)")
	errNAT64ICMPType    = errors.New("ICMP error type or code RFC 7915 does not translate")
	errNAT64Fragment    = errors.New("fragment (not reassembled)")
	errNAT64NoBinding   = errors.New("no binding for the pool port")
	errNAT64Filtered    = errors.New("filtered: the IPv6 host never sent to this IPv4 endpoint")
	errNAT64PortsUsedUp = errors.New("no free pool port")
	errNAT64HopLimit    = errors.New("hop limit exhausted")
)

// ConfigError names the invalid Config field.
type ConfigError = configerr.Error

func configErr(field, value, format string, args ...any) *ConfigError {
	return configerr.New(ErrConfig, "lab", field, value, format, args...)
}

// Missing is one thing the lab needs that the machine lacks.
type Missing struct {
	// What is missing, e.g. "program nft" or "capability CAP_NET_ADMIN".
	What string
	// Package is the Debian package that provides it ("" for privileges).
	Package string
}

// MissingError lists everything the lab needs and the machine lacks.
type MissingError struct{ Missing []Missing }

func (e *MissingError) Error() string {
	var parts, pkgs []string
	for _, m := range e.Missing {
		parts = append(parts, m.What)
		if m.Package != "" && !slices.Contains(pkgs, m.Package) {
			pkgs = append(pkgs, m.Package)
		}
	}
	msg := "kernel lab needs " + strings.Join(parts, ", ")
	if len(pkgs) > 0 {
		msg += "; install with: apt-get install " + strings.Join(pkgs, " ")
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrMissing) true.
func (e *MissingError) Unwrap() error { return ErrMissing }

// BuildError says which part of the topology could not be built. Whatever
// was built before it has been removed again.
type BuildError struct {
	Part string
	Err  error
}

func (e *BuildError) Error() string { return fmt.Sprintf("build lab %s: %v", e.Part, e.Err) }

// Unwrap returns the underlying error.
func (e *BuildError) Unwrap() error { return e.Err }

// CommandError is a failed ip, nft, tc or conntrack command, with its
// output.
type CommandError struct {
	Args   []string
	Output string
	Err    error
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.Args, " "), e.Err, strings.TrimSpace(e.Output))
}

// Unwrap returns the underlying error.
func (e *CommandError) Unwrap() error { return e.Err }
