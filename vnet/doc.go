// Package vnet builds two-sided NAT topologies over pion's virtual network
// (github.com/pion/transport/v3/vnet): a WAN on the documentation range
// 203.0.113.0/24 with natkit's relay (STUN + TURN, RFC 5780 on
// 203.0.113.1 and .2), and two sides "a" and
// "b", each behind a NAT preset from DESIGN.md (or a custom mapping and
// filtering behaviour), or on the WAN with no NAT.
//
// Each side can be impaired: latency and jitter (added to packets arriving at
// the side's host), loss (seeded, on every packet crossing the side's access
// link, both ways) and bandwidth (a token bucket on the side's downlink).
// Firewall rules (drop all UDP except to the relay) and cutting the direct
// path between the two sides are chunk filters on the WAN router and can be
// switched at run time, e.g. in the middle of a call.
//
// Silence drops a side's outbound packets at its own NAT router, before
// translation, so the NAT stops refreshing the side's mappings; Rebind
// keeps that up for the mapping lifetime (plus RebindMargin), after which
// the NAT has forgotten every mapping and the next packet from each socket
// leaves from a new external port. The topology pairs each outbound packet
// before and after translation (pion keeps a chunk's tag), so
// MappingChanges and ExternalAddr report the NAT's translations as the
// destination sees them.
//
// vnet models mapping, filtering, mapping lifetime, loss, delay and
// bandwidth. It does not model hairpinning, port preservation or TCP.
package vnet
