package relay

import (
	"net"
	"net/netip"
	"sync"
)

// selfAddrs are the relay's own transport addresses. A peer at one of them
// loops through the relay: a Binding request sent to a listener is
// answered by the relay itself, data sent to the allocation's own relayed
// address comes straight back. Other allocations' relayed addresses stay
// legitimate peers (two clients relayed by the same server).
type selfAddrs struct {
	listeners map[netip.AddrPort]struct{} // written in New only

	mu      sync.RWMutex
	owner   map[netip.AddrPort]string   // relayed address → owning 5-tuple
	byTuple map[string][]netip.AddrPort // 5-tuple → its relayed addresses
}

func newSelfAddrs() *selfAddrs {
	return &selfAddrs{
		listeners: map[netip.AddrPort]struct{}{},
		owner:     map[netip.AddrPort]string{},
		byTuple:   map[string][]netip.AddrPort{},
	}
}

// addListener records a listening address; an unspecified IP stands for
// every IP the relay is reached on (RelayIP, PublicIP).
func (sa *selfAddrs) addListener(a net.Addr, relayIP, publicIP net.IP) {
	ap, ok := anyAddrPort(a)
	if !ok {
		return
	}
	ips := []netip.Addr{ap.Addr()}
	if ap.Addr().IsUnspecified() || ipEqual(ap.Addr(), relayIP) {
		ips = append(ips, ipAddr(relayIP), ipAddr(publicIP))
	}
	for _, ip := range ips {
		if ip.IsValid() {
			sa.listeners[netip.AddrPortFrom(ip, ap.Port())] = struct{}{}
		}
	}
}

// allocated records the relayed addresses (advertised and bound) of the
// allocation on tuple.
func (sa *selfAddrs) allocated(tuple string, relayed net.Addr, relayIP net.IP) {
	ap, ok := anyAddrPort(relayed)
	if !ok {
		return
	}
	aps := []netip.AddrPort{ap}
	if ip := ipAddr(relayIP); ip.IsValid() && ip != ap.Addr() && ip.Is4() == ap.Addr().Is4() {
		aps = append(aps, netip.AddrPortFrom(ip, ap.Port()))
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	for _, a := range aps {
		sa.owner[a] = tuple
	}
	sa.byTuple[tuple] = aps
}

// allocatedToo records a dual allocation's second relayed address.
func (sa *selfAddrs) allocatedToo(tuple string, relayed net.Addr) {
	ap, ok := anyAddrPort(relayed)
	if !ok {
		return
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	sa.owner[ap] = tuple
	sa.byTuple[tuple] = append(sa.byTuple[tuple], ap)
}

// advertised returns the relayed address advertised for the allocation on
// tuple, as a string.
func (sa *selfAddrs) advertised(tuple string) (string, bool) {
	sa.mu.RLock()
	defer sa.mu.RUnlock()
	aps := sa.byTuple[tuple]
	if len(aps) == 0 {
		return "", false
	}
	return net.UDPAddrFromAddrPort(aps[0]).String(), true
}

// families reports the families of the allocation's relayed addresses on
// tuple; ok is false when no allocation is known there.
func (sa *selfAddrs) families(tuple string) (v4, v6, ok bool) {
	sa.mu.RLock()
	defer sa.mu.RUnlock()
	aps, ok := sa.byTuple[tuple]
	if !ok || len(aps) == 0 {
		return false, false, false
	}
	// The first address (or two, for a dual allocation) is advertised;
	// the rest are the bound IPs of the same family.
	for _, a := range aps {
		if a.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v4, v6, true
}

func (sa *selfAddrs) deleted(tuple string) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	for _, a := range sa.byTuple[tuple] {
		if sa.owner[a] == tuple {
			delete(sa.owner, a)
		}
	}
	delete(sa.byTuple, tuple)
}

// hasTuple reports whether the 5-tuple holds an allocation.
func (sa *selfAddrs) hasTuple(tuple string) bool {
	sa.mu.RLock()
	defer sa.mu.RUnlock()
	return len(sa.byTuple[tuple]) > 0
}

// isSelf reports whether peer (in any IPv6 encoding of an IPv4 address) is
// a listening address, or the relayed address of the allocation on the
// client's 5-tuple (computed only when peer is some relayed address: Send
// indications come through here).
func (sa *selfAddrs) isSelf(peer netip.Addr, port uint16, tuple func() string) bool {
	for _, c := range candidates(peer.WithZone("")) {
		ap := netip.AddrPortFrom(c.Unmap(), port)
		if _, ok := sa.listeners[ap]; ok {
			return true
		}
		sa.mu.RLock()
		owner, ok := sa.owner[ap]
		sa.mu.RUnlock()
		if ok && owner == tuple() {
			return true
		}
	}
	return false
}

// anyAddrPort is a UDP or TCP address as an unmapped AddrPort.
func anyAddrPort(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch x := a.(type) {
	case *net.UDPAddr:
		ap = x.AddrPort()
	case *net.TCPAddr:
		ap = x.AddrPort()
	default:
		return ap, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), ap.IsValid()
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func ipEqual(a netip.Addr, ip net.IP) bool { return a == ipAddr(ip) }
