package call

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3"
	"github.com/pion/webrtc/v4"
)

// families reports whether n has a usable (not loopback, not link-local)
// IPv4 and IPv6 address.
func families(n transport.Net) (has4, has6 bool) {
	ifs, err := n.Interfaces()
	if err != nil {
		return true, false
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				has4 = true
			} else {
				has6 = true
			}
		}
	}
	return has4, has6
}

// networkTypes are the ICE network types to gather on, v4 and v6 (UDP or
// TCP) for the families the host has: IPv4 alone when it has neither.
func networkTypes(has4, has6 bool, v4, v6 webrtc.NetworkType) []webrtc.NetworkType {
	switch {
	case has6 && !has4:
		return []webrtc.NetworkType{v6}
	case has6:
		return []webrtc.NetworkType{v4, v6}
	}
	return []webrtc.NetworkType{v4}
}

// Family is the address family of the selected pair, "IPv4" or "IPv6"
// (of its local candidate: a relayed pair reached over IPv6 relays in the
// relay's family), "" when no pair was selected.
func (p Path) Family() string {
	if p.Pair == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(p.Pair.Local.Address)
	if err != nil {
		host = p.Pair.Local.Address
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return ""
	case ip.To4() != nil:
		return "IPv4"
	}
	return "IPv6"
}

// overIPv6 is " over IPv6" for an IPv6 pair: IPv4 is what a reader assumes.
func (p Path) overIPv6() string {
	if p.Family() == "IPv6" {
		return " over IPv6"
	}
	return ""
}

// ipv6OnlyNet answers, in IPv6, the IPv4-only calls pion makes for TURN
// over UDP, on a host that has no IPv4 address (behind NAT64). pion ice
// v4.1.0 opens each TURN/UDP socket with ListenPacket("udp4", "0.0.0.0:0")
// (and the DTLS one after ResolveUDPAddr("udp4", …)), and pion/turn v4.1.3
// resolves the server with ResolveUDPAddr("udp4", host:port); without
// IPv4 neither can reach anything. The server's name resolves (DNS64) to
// an IPv6 address the NAT64 translates, so the socket is opened as "udp6"
// and names are resolved in IPv6. IPv4 literals keep "udp4": they stay
// unreachable, as they are, and mDNS's IPv4 group is one of them. TURN
// over TCP and TLS is dialled with "tcp4" (ResolveTCPAddr and DialTCP by
// pion, Dial by turnDialer), answered here in IPv6 the same way.
type ipv6OnlyNet struct{ transport.Net }

// forFamilies is n as pion should see it on a host with these families.
func forFamilies(n transport.Net, has4, has6 bool) transport.Net {
	if has6 && !has4 {
		return ipv6OnlyNet{n}
	}
	return n
}

func (n ipv6OnlyNet) ListenPacket(network, address string) (net.PacketConn, error) {
	if network == "udp4" && address == "0.0.0.0:0" {
		network, address = "udp6", "[::]:0"
	}
	return n.Net.ListenPacket(network, address)
}

func (n ipv6OnlyNet) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	if network == "udp4" && !isIPLiteral(address) {
		network = "udp6"
	}
	return n.Net.ResolveUDPAddr(network, address)
}

func (n ipv6OnlyNet) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	if network == "tcp4" && !isIPLiteral(address) {
		network = "tcp6"
	}
	return n.Net.ResolveTCPAddr(network, address)
}

func (n ipv6OnlyNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	if network == "tcp4" && raddr != nil && raddr.IP.To4() == nil {
		network = "tcp6"
	}
	return n.Net.DialTCP(network, laddr, raddr)
}

func (n ipv6OnlyNet) Dial(network, address string) (net.Conn, error) {
	if network == "tcp4" && !isIPLiteral(address) {
		network = "tcp6"
	}
	return n.Net.Dial(network, address)
}

// isIPLiteral reports whether hostport's host is an IP address.
func isIPLiteral(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return net.ParseIP(host) != nil
}

// ipv4LiteralsOnIPv6Only explains a missing relay candidate when the peer
// has no IPv4 address and every TURN URL it was given is an IPv4 literal:
// behind NAT64 only a name (synthesized by DNS64) or an IPv6 address
// reaches an IPv4 server. "" otherwise.
func ipv4LiteralsOnIPv6Only(cfg PeerConfig, ipv6Only bool) string {
	if !ipv6Only {
		return ""
	}
	var literals []string
	for _, s := range cfg.ICEServers {
		for _, raw := range s.URLs {
			if !isRelayURL(raw) {
				continue
			}
			u, err := stun.ParseURI(raw)
			if err != nil {
				return ""
			}
			ip := net.ParseIP(u.Host)
			if ip == nil || ip.To4() == nil {
				return ""
			}
			literals = append(literals, u.Host)
		}
	}
	if len(literals) == 0 {
		return ""
	}
	return fmt.Sprintf("it has no IPv4 address and its TURN URLs name IPv4 literals (%s): on an IPv6-only network only a name its DNS64 resolves, or an IPv6 address (a NAT64 prefix), reaches an IPv4 server", strings.Join(slices.Compact(literals), ", "))
}
