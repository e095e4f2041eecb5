package relay

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/pion/stun/v3"
)

// Dual allocation (RFC 8656 ADDITIONAL-ADDRESS-FAMILY): pion's allocation
// has one relayed socket, so a dual allocation's socket is a dualConn,
// an IPv4 and an IPv6 socket behind one net.PacketConn: writes go out of
// the socket of the peer's family, reads merge both. pion advertises the
// IPv4 address; completeAllocate adds the IPv6 one to its answer. The
// epoll fast path is IPv4 only and keyed by one address: a dual
// allocation stays on pion's path.

// dualConn is a dual allocation's pair of relayed sockets.
type dualConn struct {
	v4, v6 net.PacketConn
	in     chan dualPacket
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu       sync.Mutex
	deadline time.Time
}

type dualPacket struct {
	b    []byte
	from net.Addr
}

// dualBacklog bounds datagrams read from either socket and not yet taken
// by pion; more are dropped, as a full socket buffer would.
const dualBacklog = 256

func newDualConn(v4, v6 net.PacketConn) *dualConn {
	d := &dualConn{v4: v4, v6: v6, in: make(chan dualPacket, dualBacklog), done: make(chan struct{})}
	for _, pc := range []net.PacketConn{v4, v6} {
		d.wg.Add(1)
		go d.pump(pc)
	}
	return d
}

func (d *dualConn) pump(pc net.PacketConn) {
	defer d.wg.Done()
	buf := make([]byte, inboundMTU)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-d.done:
				return
			default:
				continue
			}
		}
		select {
		case d.in <- dualPacket{b: append([]byte(nil), buf[:n]...), from: from}:
		case <-d.done:
			return
		default: // backlog full: dropped
		}
	}
}

// ReadFrom returns the next datagram from a peer of either family.
func (d *dualConn) ReadFrom(p []byte) (int, net.Addr, error) {
	d.mu.Lock()
	deadline := d.deadline
	d.mu.Unlock()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case pkt := <-d.in:
		return copy(p, pkt.b), pkt.from, nil
	case <-d.done:
		return 0, nil, net.ErrClosed
	case <-timeout:
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Err: errDualTimeout}
	}
}

var errDualTimeout = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// WriteTo sends out of the socket of addr's family.
func (d *dualConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok && ua.IP.To4() == nil {
		return d.v6.WriteTo(p, addr)
	}
	return d.v4.WriteTo(p, addr)
}

func (d *dualConn) Close() error {
	var err error
	d.once.Do(func() {
		close(d.done)
		err = errors.Join(d.v4.Close(), d.v6.Close())
	})
	return err
}

// LocalAddr is the IPv4 socket's: the address pion advertises.
func (d *dualConn) LocalAddr() net.Addr { return d.v4.LocalAddr() }

func (d *dualConn) SetDeadline(t time.Time) error { return d.SetReadDeadline(t) }

func (d *dualConn) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	d.deadline = t
	d.mu.Unlock()
	return nil
}

func (d *dualConn) SetWriteDeadline(time.Time) error { return nil }

// allocateDual opens a dual allocation's two sockets, on RelayIP and
// RelayIPv6, and notes the IPv6 address for the answer and the families.
func (s *Server) allocateDual(requestedPort int) (net.PacketConn, net.Addr, error) {
	v4, _, err := s.listenRelayed("udp4", s.cfg.RelayIP.String(), requestedPort)
	if err != nil {
		return nil, nil, err
	}
	v6, addr6, err := s.allocateIPv6(0)
	if err != nil {
		_ = v4.Close()
		return nil, nil, err
	}
	addr4 := &net.UDPAddr{IP: s.cfg.PublicIP, Port: v4.LocalAddr().(*net.UDPAddr).Port}
	s.dualMu.Lock()
	if s.dualV6 == nil || len(s.dualV6) > 4096 {
		s.dualV6 = map[string]net.Addr{}
	}
	s.dualV6[addr4.String()] = addr6
	s.dualMu.Unlock()
	return newDualConn(v4, v6), addr4, nil
}

// dualSecond returns the IPv6 address of the dual allocation advertised
// as relayed, or nil. pion reports the allocation before it answers, so
// the entry stays until forgetDual.
func (s *Server) dualSecond(relayed net.Addr) net.Addr {
	s.dualMu.Lock()
	defer s.dualMu.Unlock()
	return s.dualV6[relayed.String()]
}

// forgetDual drops the entry of a deleted allocation's advertised address.
func (s *Server) forgetDual(relayed string) {
	s.dualMu.Lock()
	delete(s.dualV6, relayed)
	s.dualMu.Unlock()
}

// completeAllocate adds what pion cannot say to the answer of a gated
// Allocate: the IPv6 XOR-RELAYED-ADDRESS of a dual allocation, or the
// ADDRESS-ERROR-CODE 440 of the family a dual request could not get; the
// answer is signed again with the request's key. Any other message passes
// unchanged.
func (s *Server) completeAllocate(o *origin, b []byte) []byte {
	if !o.famHeld.Load() || (s.fam.want != familyDual && s.fam.missing == 0) || len(b) < 20 || b[0]&0xC0 != 0 {
		return b
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil || m.Type != stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse) {
		return b
	}
	var extra []stun.Setter
	if s.fam.want == familyDual {
		var relayed stun.XORMappedAddress
		if relayed.GetFromAs(m, stun.AttrXORRelayedAddress) != nil {
			return b
		}
		second, ok := s.dualSecond(&net.UDPAddr{IP: relayed.IP, Port: relayed.Port}).(*net.UDPAddr)
		if !ok {
			return b
		}
		extra = append(extra, xorAddrSetter{addr: second, typ: stun.AttrXORRelayedAddress})
	} else {
		v := []byte{s.fam.missing, 0, 4, 40} // family, reserved, class 4, number 40
		v = append(v, "Address Family not Supported"...)
		extra = append(extra, stun.RawAttribute{Type: attrAddressErrorCode, Value: v})
	}
	setters := []stun.Setter{stun.NewTransactionIDSetter(m.TransactionID), m.Type}
	for _, a := range m.Attributes {
		if a.Type == stun.AttrMessageIntegrity || a.Type == stun.AttrFingerprint {
			continue
		}
		setters = append(setters, rawAttr(a))
	}
	setters = append(setters, extra...)
	out, err := signAndBuild(setters, s.fam.key, m.Contains(stun.AttrFingerprint))
	if err != nil {
		return b
	}
	return out
}

// xorAddrSetter writes an XOR address attribute of the address's family.
type xorAddrSetter struct {
	addr *net.UDPAddr
	typ  stun.AttrType
}

func (x xorAddrSetter) AddTo(m *stun.Message) error {
	return (&stun.XORMappedAddress{IP: x.addr.IP, Port: x.addr.Port}).AddToAs(m, x.typ)
}
