package relay

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v4"
)

// relayGen wraps pion's port-range generator: it refuses allocations while
// draining or at MaxAllocations (pion answers 508), and wraps each relayed
// socket to count traffic and apply BandwidthLimit.
type relayGen struct {
	s     *Server
	inner turn.RelayAddressGenerator
}

func (g *relayGen) Validate() error { return g.inner.Validate() }

func (g *relayGen) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	s := g.s
	if s.draining.Load() {
		s.ctr.allocations.inc(OutcomeCapacity)
		return nil, nil, errDraining
	}
	for {
		n := s.ctr.active.Load()
		if s.cfg.MaxAllocations > 0 && n >= int64(s.cfg.MaxAllocations) {
			s.ctr.allocations.inc(OutcomeCapacity)
			s.log.Info("relay: allocation refused", "reason", "max allocations", "max", s.cfg.MaxAllocations)
			return nil, nil, errCapacity
		}
		if s.ctr.active.CompareAndSwap(n, n+1) {
			break
		}
	}
	if s.cfg.RelayIP.To4() == nil {
		network = "udp6" // pion asks for udp4 whatever the relay IP
	}
	var pc net.PacketConn
	var addr net.Addr
	var raw *loopConn
	var err error
	dual := s.fam.want == familyDual
	if dual {
		pc, addr, err = s.allocateDual(requestedPort)
	} else if s.wantsIPv6() && s.cfg.RelayIPv6 != nil {
		pc, addr, err = s.allocateIPv6(requestedPort)
	} else if s.loops.usable(s.cfg.RelayIP) {
		raw, err = s.loops.allocateRelay(s.cfg.RelayIP, requestedPort, s.cfg.PortMin, s.cfg.PortMax)
		if err == nil {
			pc, addr = raw, &net.UDPAddr{IP: s.cfg.PublicIP, Port: int(raw.local.Port())}
		}
	} else {
		pc, addr, err = s.listenRelayed(network, s.cfg.RelayIP.String(), requestedPort)
	}
	if err != nil {
		s.ctr.active.Add(-1)
		s.ctr.allocations.inc(OutcomeCapacity)
		return nil, nil, err
	}
	setBuffers(pc, s.cfg.SocketBuffer/4)
	rc := &relayConn{PacketConn: pc, ctr: s.ctr, fast: s.fast, reader: newAdaptiveReader(pc, relayBatchSize)}
	if s.cfg.BandwidthLimit > 0 {
		rc.bucket = newBucket(s.cfg.BandwidthLimit)
	}
	if !dual {
		s.fast.addRelay(addr, rc)
	}
	if raw != nil {
		raw.relay.Store(rc)
	}
	return rc, addr, nil
}

func (g *relayGen) AllocateConn(network string, requestedPort int) (net.Conn, net.Addr, error) {
	return g.inner.AllocateConn(network, requestedPort)
}

// relayConn is one allocation's relayed socket.
type relayConn struct {
	net.PacketConn
	ctr    *counters
	bucket *bucket
	reader *adaptiveReader
	closed atomic.Bool

	// Fast path state, guarded by fast.mu.
	fast *fastPath
	addr netip.AddrPort
	keys []chanKey
	in   peerChannels
	// scratch is the ChannelData frame toward the client on Go's poller
	// (reader only), made on first use: the event loops build frames in
	// their own batch, and 1.6 KiB per allocation adds up.
	scratch *[4 + inboundMTU + 1]byte
}

// ReadFrom receives from peers (toward the client).
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, ap, addr, err := c.reader.read(p)
		if err != nil {
			return n, addr, err
		}
		if c.bucket != nil && !c.bucket.take(n) {
			c.ctr.bandwidthDrops.Add(1)
			continue
		}
		c.ctr.pktsToClient.Add(1)
		c.ctr.bytesToClient.Add(uint64(n))
		if c.fast.toClient(c, p[:n], ap) {
			continue
		}
		return n, netAddr(ap, addr), nil
	}
}

// WriteTo sends to a peer (from the client).
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.bucket != nil && !c.bucket.take(len(p)) {
		c.ctr.bandwidthDrops.Add(1)
		return len(p), nil // dropped, as a congested link would
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	if err == nil {
		c.ctr.pktsToPeer.Add(1)
		c.ctr.bytesToPeer.Add(uint64(n))
	}
	return n, err
}

func (c *relayConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.ctr.active.Add(-1)
		c.fast.forget(c)
	}
	return c.PacketConn.Close()
}

// bucket is a token bucket of bytes: rate per second, one second of burst.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newBucket(rate int64) *bucket {
	return &bucket{rate: float64(rate), tokens: float64(rate), last: time.Now()}
}

func (b *bucket) take(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	b.last = now
	if b.tokens > b.rate {
		b.tokens = b.rate
	}
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}
