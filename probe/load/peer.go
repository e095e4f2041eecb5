package load

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/stdnet"

	"github.com/natkit/natkit/internal/configerr"
)

// PeerConfig configures the UDP echo peer.
type PeerConfig struct {
	// Net is the network. Default: the real network.
	Net transport.Net
	// Listen is the UDP address to listen on. Default "127.0.0.1:3480"
	// (turnutils_peer's port).
	Listen string
	// Readers is the number of goroutines reading the socket. Default 1.
	Readers int
}

// Peer is a UDP echo peer: every datagram goes back unchanged to where it
// came from, which for relayed traffic is the allocation's relayed address.
type Peer struct {
	conn    net.PacketConn
	readers int
	packets atomic.Int64
	bytes   atomic.Int64
}

// PeerStats counts what the peer echoed.
type PeerStats struct {
	Packets int64 `json:"packets"`
	Bytes   int64 `json:"bytes"`
}

func (c PeerConfig) withDefaults() PeerConfig {
	if c.Net == nil {
		if n, err := stdnet.NewNet(); err == nil {
			c.Net = n
		}
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:3480"
	}
	if c.Readers == 0 {
		c.Readers = 1
	}
	return c
}

// validate checks a PeerConfig with defaults filled in; field names are
// natkit peer's flags.
func (c PeerConfig) validate() error {
	if c.Net == nil {
		return cfgErr("net", "", "no network available")
	}
	if c.Readers < 0 || c.Readers > 64 {
		return cfgErr("--readers", "", "want 1..64")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return cfgErr("--listen", c.Listen, "want host:port")
	}
	return nil
}

// ListenPeer opens the peer's socket.
func ListenPeer(cfg PeerConfig) (*Peer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c, err := cfg.Net.ListenPacket(udpNetwork(cfg.Listen), cfg.Listen)
	if err != nil {
		return nil, configerr.New(ErrConfig, "", "--listen", cfg.Listen, "cannot listen: %w", err)
	}
	if rb, ok := c.(interface{ SetReadBuffer(int) error }); ok {
		_ = rb.SetReadBuffer(8 << 20) // many allocations' packets share this socket
	}
	return &Peer{conn: c, readers: cfg.Readers}, nil
}

// udpNetwork is "udp4" or "udp6" for an address with an IP literal of
// that family, else "udp" (a name, or an empty host: both families).
func udpNetwork(hostport string) string {
	host, _, _ := net.SplitHostPort(hostport)
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return "udp"
	case ip.Is4():
		return "udp4"
	}
	return "udp6"
}

// Addr is the address the peer listens on.
func (p *Peer) Addr() net.Addr { return p.conn.LocalAddr() }

// Stats returns the counts so far.
func (p *Peer) Stats() PeerStats {
	return PeerStats{Packets: p.packets.Load(), Bytes: p.bytes.Load()}
}

// Serve echoes until ctx is cancelled, then closes the socket. It returns
// nil after a cancellation and the socket error otherwise.
func (p *Peer) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, p.readers)
	stop := context.AfterFunc(ctx, func() { _ = p.conn.Close() })
	defer stop()
	for range p.readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.loop()
		}()
	}
	wg.Wait()
	_ = p.conn.Close()
	close(errs)
	if ctx.Err() != nil {
		return nil
	}
	for err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
	}
	return nil
}

func (p *Peer) loop() error {
	buf := make([]byte, 65536)
	if uc, ok := p.conn.(*net.UDPConn); ok { // no allocation per packet
		for {
			n, from, err := uc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return err
			}
			if _, err := uc.WriteToUDPAddrPort(buf[:n], from); err == nil {
				p.packets.Add(1)
				p.bytes.Add(int64(n))
			}
		}
	}
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			return err
		}
		if _, err := p.conn.WriteTo(buf[:n], from); err == nil {
			p.packets.Add(1)
			p.bytes.Add(int64(n))
		}
	}
}
