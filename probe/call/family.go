package call

import (
	"net"

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

// networkTypes are the ICE network types to gather on: UDP over each
// family the host has (IPv4 alone when it has neither, as before).
func networkTypes(has4, has6 bool) []webrtc.NetworkType {
	switch {
	case has6 && !has4:
		return []webrtc.NetworkType{webrtc.NetworkTypeUDP6}
	case has6:
		return []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	}
	return []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
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
