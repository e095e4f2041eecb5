package vnet

import "net"

// sideOf names the side whose public address sent from addr, or "".
func sideOf(t *Topology, addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	ip := net.ParseIP(host)
	for name, sd := range t.sides {
		if ip.Equal(sd.public) {
			return name
		}
	}
	return ""
}
