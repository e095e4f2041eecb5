package relay

import (
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Batched reads: recvmmsg returns many datagrams per system call when a
// socket is busy, but costs more than recvfrom when it returns one. So a
// socket reads one datagram at a time until it sees a high rate, then
// batches until the batches come back with single datagrams again.
const (
	// batchSize is how many datagrams one recvmmsg may return on a
	// listening socket; relayBatchSize on a relayed socket (each
	// allocation has one, so its buffers stay small).
	batchSize      = 32
	relayBatchSize = 8
	// rateWindow plain reads faster than rateWindow×minGap switch to
	// batched reads.
	rateWindow = 256
	minGap     = 20 * time.Microsecond
	// singles is how many one-datagram batches in a row switch back.
	singles = 64
)

// adaptiveReader reads a real UDP socket (nil read on other networks,
// e.g. vnet). It is used by one reader goroutine only.
type adaptiveReader struct {
	pc       net.PacketConn
	uc       *net.UDPConn // nil on other networks
	size     int
	batch    func([]ipv4.Message, int) (int, error)
	msgs     []ipv4.Message
	n, i     int
	batching bool
	count    int       // plain reads in this window, or single batches in a row
	since    time.Time // start of the rate window
}

func newAdaptiveReader(pc net.PacketConn, size int) *adaptiveReader {
	r := &adaptiveReader{pc: pc, size: size}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return r
	}
	r.uc = uc
	if la, ok := uc.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
		r.batch = ipv6.NewPacketConn(uc).ReadBatch
	} else {
		r.batch = ipv4.NewPacketConn(uc).ReadBatch
	}
	return r
}

// read returns the next datagram and its source as an AddrPort; addr is
// the same source as a net.Addr when the read produced one anyway (nil
// otherwise: call netAddr only when needed, it allocates). A datagram
// larger than p is cut to len(p) bytes and returns n == len(p), as a
// plain UDP read would.
func (r *adaptiveReader) read(p []byte) (n int, ap netip.AddrPort, addr net.Addr, err error) {
	if r.i < r.n {
		return r.next(p)
	}
	if !r.batching {
		if r.uc != nil {
			n, ap, err = r.uc.ReadFromUDPAddrPort(p)
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		} else {
			n, addr, err = r.pc.ReadFrom(p)
			if err == nil {
				ap, _ = addrPort(addr)
			}
		}
		if err == nil && r.batch != nil {
			r.count++
			if r.count == 1 {
				r.since = time.Now()
			} else if r.count >= rateWindow {
				if time.Since(r.since) < rateWindow*minGap {
					r.startBatching()
				}
				r.count = 0
			}
		}
		return n, ap, addr, err
	}
	n, err = r.batch(r.msgs, 0)
	if err != nil {
		return 0, ap, nil, err
	}
	r.n, r.i = n, 0
	if n == 1 {
		if r.count++; r.count >= singles {
			r.batching, r.count = false, 0
		}
	} else {
		r.count = 0
	}
	return r.next(p)
}

func (r *adaptiveReader) startBatching() {
	if r.msgs == nil {
		r.msgs = make([]ipv4.Message, r.size)
		for i := range r.msgs {
			// One byte more than the relay accepts, to see oversized ones.
			r.msgs[i].Buffers = [][]byte{make([]byte, inboundMTU+1)}
		}
	}
	r.batching = true
}

func (r *adaptiveReader) next(p []byte) (int, netip.AddrPort, net.Addr, error) {
	m := &r.msgs[r.i]
	r.i++
	ap, _ := addrPort(m.Addr)
	return copy(p, m.Buffers[0][:m.N]), ap, m.Addr, nil
}

// netAddr returns addr, or makes one from ap.
func netAddr(ap netip.AddrPort, addr net.Addr) net.Addr {
	if addr != nil {
		return addr
	}
	return net.UDPAddrFromAddrPort(ap)
}
