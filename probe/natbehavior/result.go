package natbehavior

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Mapping is the NAT's mapping behaviour (RFC 4787).
type Mapping string

// Mapping behaviours.
const (
	MappingNoNAT Mapping = "no-nat"
	MappingEIM   Mapping = "EIM"
	MappingADM   Mapping = "ADM"
	MappingAPDM  Mapping = "APDM"
	// MappingDependent: two independent servers saw different mappings, so
	// the mapping is ADM or APDM; without OTHER-ADDRESS the two cannot be
	// told apart.
	MappingDependent Mapping = "ADM-or-APDM"
	MappingUnknown   Mapping = "undetermined"
)

// Filtering is the NAT's (or firewall's) filtering behaviour.
type Filtering string

// Filtering behaviours.
const (
	FilteringEIF     Filtering = "EIF"
	FilteringADF     Filtering = "ADF"
	FilteringAPDF    Filtering = "APDF"
	FilteringUnknown Filtering = "undetermined"
)

// Describe gives the long name of a mapping behaviour.
func (m Mapping) Describe() string {
	switch m {
	case MappingNoNAT:
		return "no NAT (the mapped address is a local address)"
	case MappingEIM:
		return "endpoint-independent mapping"
	case MappingADM:
		return "address-dependent mapping"
	case MappingAPDM:
		return "address- and port-dependent mapping"
	case MappingDependent:
		return "endpoint-dependent mapping (address- or address-and-port-dependent)"
	}
	return "not determined"
}

// Describe gives the long name of a filtering behaviour.
func (f Filtering) Describe() string {
	switch f {
	case FilteringEIF:
		return "endpoint-independent filtering"
	case FilteringADF:
		return "address-dependent filtering"
	case FilteringAPDF:
		return "address- and port-dependent filtering"
	}
	return "not determined"
}

// Test is one Binding transaction of the run.
type Test struct {
	// Name, e.g. "mapping I", "filtering II".
	Name string `json:"name"`
	// To is the destination address.
	To string `json:"to"`
	// Change is the CHANGE-REQUEST: "", "ip+port" or "port".
	Change string `json:"change,omitempty"`
	// Local is the local socket address.
	Local    string `json:"local"`
	Answered bool   `json:"answered"`
	// From is the response's source address.
	From string `json:"from,omitempty"`
	// Mapped is the mapped address in the response.
	Mapped   string        `json:"mapped,omitempty"`
	RTT      time.Duration `json:"rtt,omitempty"`
	Requests int           `json:"requests"`
	Error    string        `json:"error,omitempty"`
}

// Hairpin is the hairpinning test result.
type Hairpin struct {
	// Supported is true when a packet sent to the public address came back
	// to the mapped socket.
	Supported bool   `json:"supported"`
	Note      string `json:"note,omitempty"`
}

// Lifetime is the binding-lifetime range: the mapping was alive after
// Alive and gone after Expired. Expired is zero when the mapping outlived
// every probe (then the lifetime is more than Alive); Alive is zero when
// the first probe already found it gone.
type Lifetime struct {
	Alive   time.Duration   `json:"alive"`
	Expired time.Duration   `json:"expired,omitempty"`
	Probes  []LifetimeProbe `json:"probes"`
	Note    string          `json:"note,omitempty"`
}

// LifetimeProbe is one probe of lifetime discovery.
type LifetimeProbe struct {
	After time.Duration `json:"after"`
	Alive bool          `json:"alive"`
	Error string        `json:"error,omitempty"`
}

// Range renders the lifetime as a range, e.g. "between 20s and 30s".
func (l *Lifetime) Range() string {
	switch {
	case l == nil:
		return "not measured"
	case l.Note != "" && len(l.Probes) == 0:
		return "not determined"
	case l.Expired == 0:
		return fmt.Sprintf("more than %s", l.Alive)
	case l.Alive == 0:
		return fmt.Sprintf("less than %s", l.Expired)
	}
	return fmt.Sprintf("between %s and %s", l.Alive, l.Expired)
}

// Cause is the machine-readable outcome of a run.
type Cause string

// Causes.
const (
	// CauseClassified: the server answered and the behaviour was
	// classified as far as the server allows (see Notes for what was not).
	CauseClassified Cause = "classified"
	// CauseNoAnswer: the server never answered the first Binding request.
	CauseNoAnswer Cause = "no-answer"
	// CauseUnreachable: the server's host answered ICMP port unreachable.
	CauseUnreachable Cause = "port-unreachable"
	// CauseDNS: the server's name did not resolve.
	CauseDNS Cause = "dns-failure"
	// CauseErrorResponse: the server answered with a STUN error.
	CauseErrorResponse Cause = "error-response"
	// CauseBadResponse: the server's answer had no mapped address.
	CauseBadResponse Cause = "bad-response"
	// CauseNetwork: a local socket error.
	CauseNetwork Cause = "network-error"
	// CauseInterrupted: the context ended first.
	CauseInterrupted Cause = "interrupted"
)

// causeOf maps Run's error to a Cause.
func causeOf(err error) Cause {
	switch {
	case err == nil:
		return CauseClassified
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return CauseInterrupted
	case errors.Is(err, ErrResolve):
		return CauseDNS
	case errors.Is(err, ErrNoAnswer):
		return CauseNoAnswer
	case errors.Is(err, ErrUnreachable):
		return CauseUnreachable
	case errors.Is(err, ErrErrorResponse):
		return CauseErrorResponse
	case errors.Is(err, ErrBadResponse):
		return CauseBadResponse
	}
	return CauseNetwork
}

// Result is what Run found.
type Result struct {
	// Cause is the run's outcome; Error is the error behind it, as text,
	// when it is not CauseClassified.
	Cause Cause  `json:"cause"`
	Error string `json:"error,omitempty"`

	Server    string `json:"server"`
	AltServer string `json:"alt_server,omitempty"`
	// Local is the mapping-test socket's local address.
	Local string `json:"local"`
	// Public is the mapped (public) address seen by Server.
	Public string `json:"public"`
	// OtherAddress is the server's OTHER-ADDRESS, empty if it gave none.
	OtherAddress string `json:"other_address,omitempty"`
	RFC5780      bool   `json:"rfc5780"`
	// NAT64Prefix is the NAT64 prefix (RFC 6052) the server was reached
	// through, when its answer showed one: OTHER-ADDRESS and the hairpin
	// target are then reached synthesized in it. Empty otherwise.
	NAT64Prefix string    `json:"nat64_prefix,omitempty"`
	NAT         bool      `json:"nat"`
	Mapping     Mapping   `json:"mapping"`
	Filtering   Filtering `json:"filtering"`
	// PortPreserved is whether the mapped port equals the local port, as
	// observed on the mapping socket.
	PortPreserved bool     `json:"port_preserved"`
	Hairpin       *Hairpin `json:"hairpin,omitempty"`
	// Clash is the peer-first test (EIM NATs only): does the mapping
	// change when a peer's packet arrives first?
	Clash    *Clash    `json:"clash,omitempty"`
	Lifetime *Lifetime `json:"lifetime,omitempty"`
	// Notes explain undetermined results and server shortcomings.
	Notes []string `json:"notes,omitempty"`
	Tests []Test   `json:"tests"`
	// Classic is the RFC 3489 name.
	Classic string `json:"classic"`
	// Implications say what the behaviour means for calls.
	Implications []string      `json:"implications"`
	Duration     time.Duration `json:"duration"`
}

// Classic returns the RFC 3489 name of a mapping/filtering pair.
func Classic(nat bool, m Mapping, f Filtering) string {
	if !nat || m == MappingNoNAT {
		switch f {
		case FilteringEIF:
			return "open internet"
		case FilteringADF, FilteringAPDF:
			return "symmetric UDP firewall"
		}
		return "no NAT (filtering not determined)"
	}
	switch m {
	case MappingADM, MappingAPDM, MappingDependent:
		return "symmetric"
	case MappingEIM:
		switch f {
		case FilteringEIF:
			return "full cone"
		case FilteringADF:
			return "restricted cone"
		case FilteringAPDF:
			return "port restricted cone"
		}
		return "cone (filtering not determined)"
	}
	return "not determined"
}

// Implications explains what a mapping/filtering pair means for two-peer
// calls, after DESIGN.md's theory: a pair connects directly unless one
// side's mapping depends on the destination and the other side filters by
// port; with TURN every pair connects.
func Implications(nat bool, m Mapping, f Filtering) []string {
	var out []string
	dependent := m == MappingADM || m == MappingAPDM || m == MappingDependent
	switch {
	case !nat && f == FilteringEIF:
		out = append(out, "you are reachable directly: peers behind any NAT can connect to you with STUN alone")
	case dependent:
		out = append(out, "your NAT gives each destination its own public port, so the address a STUN server sees is not the one a peer sees: a peer behind a port-restricted cone or symmetric NAT will need TURN to reach you")
	case m == MappingEIM:
		out = append(out, "your public address is the same for every peer, so server-reflexive candidates work")
	}
	switch f {
	case FilteringAPDF:
		out = append(out, "your NAT filters by address and port: a peer behind a symmetric NAT will need TURN to reach you")
	case FilteringADF:
		if nat || m != MappingNoNAT {
			out = append(out, "your NAT filters by address only: peers connect directly after the usual ICE checks")
		}
	case FilteringEIF:
		if nat {
			out = append(out, "your NAT lets in packets from anyone you have sent to once: direct connections succeed with every peer type")
		}
	case FilteringUnknown:
		out = append(out, "filtering was not determined, so whether symmetric-NAT peers can reach you directly is unknown; a TURN server covers every case")
	}
	if m == MappingUnknown {
		out = append(out, "mapping was not determined; use an RFC 5780 server (natkit relay with two addresses, or coturn on two IPs) to tell")
	}
	if dependent || f == FilteringAPDF {
		out = append(out, "configure a TURN server for calls that must always connect")
	}
	return out
}
