package gather

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3"

	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/reports"
)

// Address families, as the verdicts and candidate tables name them.
const (
	FamilyIPv4 = "IPv4"
	FamilyIPv6 = "IPv6"
)

// familyOfIP returns FamilyIPv4, FamilyIPv6, or "" for nil.
func familyOfIP(ip net.IP) string {
	switch {
	case ip == nil:
		return ""
	case ip.To4() != nil:
		return FamilyIPv4
	}
	return FamilyIPv6
}

// familyOf returns the family of an "ip", "ip:port" or "[ip]:port"
// string, or "" when it holds no IP.
func familyOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return familyOfIP(net.ParseIP(strings.Trim(addr, "[]")))
}

// familyNet lets pion's TURN client and ICE agent reach IPv6 servers.
// Both hard-code IPv4: they resolve servers with "udp4"/"tcp4", the agent
// joins host and port with "%s:%d" (so "::1:3478"), and it opens its TURN
// sockets with ListenPacket("udp4", "0.0.0.0:0"). familyNet repairs the
// address, widens the network to the address's family, and opens those
// TURN sockets on relayNetwork ("udp6", or "udp" for dual-stack; default
// unchanged, IPv4).
type familyNet struct {
	transport.Net
	relayNetwork string
}

// bracket repairs "host:port" where host is an IPv6 literal written
// without brackets; other addresses are returned as they are.
func bracket(address string) string {
	if strings.HasPrefix(address, "[") || strings.Count(address, ":") < 2 {
		return address
	}
	i := strings.LastIndex(address, ":")
	if net.ParseIP(address[:i]) == nil {
		return address
	}
	return net.JoinHostPort(address[:i], address[i+1:])
}

// widen maps "udp4"/"tcp4" to "udp"/"tcp": Go's resolver then returns an
// IPv6 literal as IPv6, and a name's IPv4 address when it has one, else
// its IPv6 address.
func widen(network string) string {
	return strings.TrimSuffix(network, "4")
}

func (n *familyNet) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	return n.Net.ResolveUDPAddr(widen(network), bracket(address))
}

func (n *familyNet) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	return n.Net.ResolveTCPAddr(widen(network), bracket(address))
}

func (n *familyNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	if raddr != nil && raddr.IP.To4() == nil {
		network = widen(network)
	}
	return n.Net.DialUDP(network, laddr, raddr)
}

func (n *familyNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	if raddr != nil && raddr.IP.To4() == nil {
		network = widen(network)
	}
	return n.Net.DialTCP(network, laddr, raddr)
}

func (n *familyNet) ListenPacket(network, address string) (net.PacketConn, error) {
	if n.relayNetwork != "" && network == "udp4" && address == "0.0.0.0:0" {
		return n.Net.ListenPacket(n.relayNetwork, "[::]:0")
	}
	return n.Net.ListenPacket(network, address)
}

// Dial is used for TCP and TLS TURN servers.
func (n *familyNet) Dial(network, address string) (net.Conn, error) {
	return n.Net.Dial(widen(network), bracket(address))
}

// mismatch runs after a client that reached the server over IPv6 got an
// IPv4 relayed address (an Allocate without REQUESTED-ADDRESS-FAMILY asks
// for IPv4, RFC 6156; browsers and pion never send it): it asks again
// for IPv6 from a fresh socket (coturn answers 437 on the old 5-tuple
// for a while after its allocation is freed), and says what that means.
func (t *turnProbe) mismatch(ctx context.Context) {
	r := t.r
	r.Diagnosis += fmt.Sprintf("; family mismatch: the server allocated an IPv4 relay address to a client that reached it over IPv6 (an Allocate without REQUESTED-ADDRESS-FAMILY asks for IPv4, RFC 6156): an IPv6-only peer cannot reach %s", r.Relay)
	var again ServerResult
	(&turnProbe{g: t.g, s: t.s, r: &again, parent: ctx, askIPv6: true}).run(ctx)
	switch again.Cause {
	case CauseTURNOK:
		r.RelayIPv6 = again.Relay
		r.Diagnosis += fmt.Sprintf("; asked for IPv6 (REQUESTED-ADDRESS-FAMILY), the server relays over IPv6 too (%s): IPv6-only clients must ask for it, or get relay candidates only for IPv4 peers", r.RelayIPv6)
	case CauseFamily:
		r.RelayIPv6 = "440"
		r.Diagnosis += "; asked for IPv6, it answered " + again.Diagnosis
	default:
		r.Diagnosis += "; asked for IPv6: " + string(again.Cause) + ": " + again.Diagnosis
	}
}

// Dual allocation attributes: RFC 8656's code points, and the draft ones
// (draft-ietf-tram-turn-dual-allocation) that coturn 4.6 still uses.
// Both are comprehension-optional, so a server ignores the pair it does
// not know.
const (
	attrAdditionalAddressFamily      stun.AttrType = 0x8000
	attrAddressErrorCode             stun.AttrType = 0x8001
	attrAdditionalAddressFamilyDraft stun.AttrType = 0x8032
	attrAddressErrorCodeDraft        stun.AttrType = 0x8033
)

// family is the REQUESTED-ADDRESS-FAMILY (or, for a dual allocation,
// ADDITIONAL-ADDRESS-FAMILY) setter of this probe's Allocates.
func (t *turnProbe) family() stun.Setter {
	switch {
	case t.askIPv6:
		return stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{0x02, 0, 0, 0}}
	case t.askDual:
		return dualAsk{}
	}
	return noAttr{}
}

// dualAsk is ADDITIONAL-ADDRESS-FAMILY IPv6 under both code points.
type dualAsk struct{}

func (dualAsk) AddTo(m *stun.Message) error {
	m.Add(attrAdditionalAddressFamily, []byte{0x02, 0, 0, 0})
	m.Add(attrAdditionalAddressFamilyDraft, []byte{0x02, 0, 0, 0})
	return nil
}

// dualVerdict reads a dual Allocate's answer (RFC 8656 section 7.3): a
// second XOR-RELAYED-ADDRESS, or ADDRESS-ERROR-CODE for the family the
// server could not give (coturn also sends the unspecified address for
// it), or neither (the server ignored the attribute).
func (t *turnProbe) dualVerdict(m *stun.Message) {
	r := t.r
	var addrs []string
	for _, a := range m.Attributes {
		if a.Type != stun.AttrXORRelayedAddress {
			continue
		}
		one := &stun.Message{TransactionID: m.TransactionID}
		one.Add(a.Type, a.Value)
		var x stun.XORMappedAddress
		if x.GetFromAs(one, stun.AttrXORRelayedAddress) == nil && !x.IP.IsUnspecified() {
			addrs = append(addrs, x.String())
		}
	}
	if len(addrs) >= 2 {
		r.RelayDual = addrs[1]
		r.Diagnosis += fmt.Sprintf("; dual allocation (RFC 8656 ADDITIONAL-ADDRESS-FAMILY): %s and %s in one allocation", addrs[0], addrs[1])
		return
	}
	v, err := m.Get(attrAddressErrorCode)
	if err != nil {
		v, err = m.Get(attrAddressErrorCodeDraft)
	}
	if err == nil && len(v) >= 4 {
		fam := map[byte]string{1: "IPv4", 2: "IPv6"}[v[0]]
		code := int(v[2]&0x07)*100 + int(v[3])
		r.RelayDual = fmt.Sprint(code)
		r.Diagnosis += fmt.Sprintf("; asked for a dual allocation (ADDITIONAL-ADDRESS-FAMILY IPv6): the server allocated %s only and answered %d for %s (ADDRESS-ERROR-CODE)", familyOf(r.Relay), code, fam)
		if code == 440 && fam == "IPv6" {
			r.Diagnosis += ": " + familyAdvice(true, t.s)
		}
		return
	}
	r.RelayDual = "ignored"
	r.Diagnosis += "; asked for a dual allocation (ADDITIONAL-ADDRESS-FAMILY IPv6): the server gave one relayed address and no ADDRESS-ERROR-CODE, so it ignores the attribute (no dual allocation; pion/turn-based servers, for one)"
}

type noAttr struct{}

func (noAttr) AddTo(*stun.Message) error { return nil }

// familyAdvice says what to change when a server has no relay address of
// the family an Allocate asked for: a client asks for IPv4 unless it says
// otherwise, whatever family it reached the server over.
func familyAdvice(askedIPv6 bool, s iceconfig.Server) string {
	if !askedIPv6 {
		return "the server has no IPv4 relay address, and an Allocate without REQUESTED-ADDRESS-FAMILY (browsers, pion) asks for IPv4 (RFC 6156); " +
			"coturn: add relay-ip=<an IPv4 address> (or listen on one, listening-ip); natkit relay: --relay-ip <IPv4> or an IPv4 --listen; " +
			"or use a server address with an IPv4 relay instead of " + s.URL()
	}
	return "the server has no IPv6 relay address; coturn: add relay-ip=<an IPv6 address> (or listen on one, listening-ip); natkit relay: --relay-ipv6 <IPv6> or an IPv6 --listen"
}

// familyCheck warns, in a check of its own (a passing check's message is
// not shown in text reports), when a server reached over IPv6 relayed
// over IPv4.
func (s ServerResult) familyCheck() (reports.Check, bool) {
	if s.RelayIPv6 == "" {
		return reports.Check{}, false
	}
	msg := s.Diagnosis
	if i := strings.Index(msg, "family mismatch: "); i >= 0 {
		msg = msg[i:]
	}
	return reports.Check{
		ID: "family/" + s.URL, Name: s.URL + " relay family", Verdict: reports.VerdictWarn,
		Expected: "an IPv6 relay address for an IPv6 client", Observed: "IPv4 relay (" + s.Relay + ")", Message: msg,
	}, true
}
