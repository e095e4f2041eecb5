package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
)

// fastPath relays ChannelData of UDP allocations without going through
// pion's per-packet handling (which formats a log argument, fingerprints
// the 5-tuple under a lock and searches the channel list for every
// packet). It learns channels from pion's OnChannelCreated and
// OnChannelDeleted events and relayed sockets from the address generator;
// anything it does not know goes to pion as before.
type fastPath struct {
	mu        sync.RWMutex
	out       map[chanKey]toPeer                // client→peer, by client 5-tuple and channel
	relays    map[netip.AddrPort]*relayConn     // advertised relayed address → socket
	listeners map[netip.AddrPort]net.PacketConn // listening address → socket to answer from
}

type chanKey struct {
	client, local netip.AddrPort
	ch            uint16
}

type toPeer struct {
	rc     *relayConn
	peer   *net.UDPAddr
	peerAP netip.AddrPort
}

type toClient struct {
	peer     netip.AddrPort
	ch       uint16
	client   *net.UDPAddr
	clientAP netip.AddrPort
	turn     net.PacketConn
}

// peerChannels is one relayed socket's channels, by peer. Most
// allocations bind one or two, so a slice searched in order costs less
// memory than a map (a map's first group alone is ~700 bytes, per
// allocation) and no more time.
type peerChannels []toClient

func (pc peerChannels) find(peer netip.AddrPort) (toClient, bool) {
	for i := range pc {
		if pc[i].peer == peer {
			return pc[i], true
		}
	}
	return toClient{}, false
}

func (pc *peerChannels) set(t toClient) {
	for i := range *pc {
		if (*pc)[i].peer == t.peer {
			(*pc)[i] = t
			return
		}
	}
	*pc = append(*pc, t)
}

func (pc *peerChannels) remove(peer netip.AddrPort) {
	for i := range *pc {
		if (*pc)[i].peer == peer {
			last := len(*pc) - 1
			(*pc)[i] = (*pc)[last]
			(*pc)[last] = toClient{}
			*pc = (*pc)[:last]
			return
		}
	}
}

func newFastPath() *fastPath {
	return &fastPath{
		out:       map[chanKey]toPeer{},
		relays:    map[netip.AddrPort]*relayConn{},
		listeners: map[netip.AddrPort]net.PacketConn{},
	}
}

// addrPort normalises a UDP address for map keys; ok is false for other
// kinds of address (TCP allocations stay on pion's path).
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	u, ok := a.(*net.UDPAddr)
	if !ok || u == nil {
		return netip.AddrPort{}, false
	}
	ap := u.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

func (f *fastPath) addListener(pc net.PacketConn) {
	if ap, ok := addrPort(pc.LocalAddr()); ok {
		f.mu.Lock()
		f.listeners[ap] = pc
		f.mu.Unlock()
	}
}

func (f *fastPath) addRelay(addr net.Addr, rc *relayConn) {
	ap, ok := addrPort(addr)
	if !ok {
		return
	}
	f.mu.Lock()
	rc.addr = ap
	f.relays[ap] = rc
	f.mu.Unlock()
}

// forget drops everything about a closed relayed socket.
func (f *fastPath) forget(rc *relayConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range rc.keys {
		delete(f.out, k)
	}
	rc.keys, rc.in = nil, nil
	if f.relays[rc.addr] == rc {
		delete(f.relays, rc.addr)
	}
}

func (f *fastPath) channelCreated(src, dst, relayAddr, peer net.Addr, ch uint16) {
	client, ok1 := addrPort(src)
	local, ok2 := addrPort(dst)
	ra, ok3 := addrPort(relayAddr)
	pa, ok4 := addrPort(peer)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rc, turn := f.relays[ra], f.listeners[local]
	if rc == nil || turn == nil || rc.closed.Load() {
		return
	}
	k := chanKey{client: client, local: local, ch: ch}
	f.out[k] = toPeer{rc: rc, peer: net.UDPAddrFromAddrPort(pa), peerAP: pa}
	rc.keys = append(rc.keys, k)
	rc.in.set(toClient{peer: pa, ch: ch, client: net.UDPAddrFromAddrPort(client), clientAP: client, turn: turn})
}

func (f *fastPath) channelDeleted(src, dst, relayAddr, peer net.Addr, ch uint16) {
	client, _ := addrPort(src)
	local, _ := addrPort(dst)
	ra, _ := addrPort(relayAddr)
	pa, _ := addrPort(peer)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.out, chanKey{client: client, local: local, ch: ch})
	if rc := f.relays[ra]; rc != nil {
		rc.in.remove(pa)
	}
}

// toPeer relays one ChannelData datagram from a client if its channel is
// known; false means pion should handle it.
func (f *fastPath) toPeer(b []byte, client, local netip.AddrPort) bool {
	e, payload, ok := f.route(b, client, local)
	if ok {
		_, _ = e.rc.WriteTo(payload, e.peer)
	}
	return ok
}

// route finds where a client's ChannelData datagram b goes, and its
// payload; false means the channel is unknown (or b is not ChannelData).
func (f *fastPath) route(b []byte, client, local netip.AddrPort) (toPeer, []byte, bool) {
	if len(b) < 4 {
		return toPeer{}, nil, false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if 4+n > len(b) {
		return toPeer{}, nil, false
	}
	f.mu.RLock()
	e, ok := f.out[chanKey{client: client, local: local, ch: binary.BigEndian.Uint16(b[0:2])}]
	f.mu.RUnlock()
	return e, b[4 : 4+n], ok
}

// toClient relays one datagram from a peer as ChannelData if the peer has
// a channel; false means pion should handle it (Data indication).
func (f *fastPath) toClient(rc *relayConn, b []byte, pa netip.AddrPort) bool {
	f.mu.RLock()
	t, ok := rc.in.find(pa)
	f.mu.RUnlock()
	if !ok {
		return false
	}
	if rc.scratch == nil {
		rc.scratch = new([4 + inboundMTU + 1]byte)
	}
	frame := rc.scratch[:4+len(b)]
	binary.BigEndian.PutUint16(frame[0:2], t.ch)
	binary.BigEndian.PutUint16(frame[2:4], uint16(len(b)))
	copy(frame[4:], b)
	_, _ = t.turn.WriteTo(frame, t.client)
	return true
}
