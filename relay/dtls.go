package relay

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/transport/v3/packetio"
)

// TURN over DTLS (RFC 7350): one UDP socket from the relay's
// transport.Net, cut into one packet stream per client address (dtlsMux),
// each turned into a DTLS server connection by pion/dtls and handed to
// pion/turn like a TLS connection. pion/dtls's own listener opens its
// socket with the net package, which would bypass the transport.Net.

// dtlsBacklog bounds clients whose first ClientHello arrived but that the
// accept loop has not taken yet; more are dropped (they retransmit).
const dtlsBacklog = 128

// dtlsPeerBuffer bounds what one client may have queued before the DTLS
// layer reads it.
const dtlsPeerBuffer = 256 << 10

// dtlsMux demultiplexes one UDP socket by client address.
type dtlsMux struct {
	pc      net.PacketConn
	accepts chan *dtlsPeer
	done    chan struct{}

	mu     sync.Mutex
	peers  map[string]*dtlsPeer
	closed bool
}

func newDTLSMux(pc net.PacketConn) *dtlsMux {
	m := &dtlsMux{pc: pc, accepts: make(chan *dtlsPeer, dtlsBacklog), done: make(chan struct{}), peers: map[string]*dtlsPeer{}}
	go m.readLoop()
	return m
}

// isClientHello reports whether a datagram starts with a DTLS handshake
// record (content type 22, version 1.x = 0xfeXX): only that may open a
// new client's stream.
func isClientHello(b []byte) bool {
	return len(b) >= 13 && b[0] == 22 && b[1] == 0xfe
}

func (m *dtlsMux) readLoop() {
	buf := make([]byte, inboundMTU+64)
	for {
		n, from, err := m.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || m.isClosed() {
				m.Close()
				return
			}
			continue // e.g. ICMP errors surfaced on some systems
		}
		key := from.String()
		m.mu.Lock()
		p := m.peers[key]
		if p == nil && !m.closed && isClientHello(buf[:n]) {
			p = &dtlsPeer{m: m, remote: from, key: key, in: packetio.NewBuffer()}
			p.in.SetLimitSize(dtlsPeerBuffer)
			select {
			case m.accepts <- p:
				m.peers[key] = p
			default:
				p = nil
			}
		}
		m.mu.Unlock()
		if p != nil {
			_, _ = p.in.Write(buf[:n]) // a full buffer drops, as UDP would
		}
	}
}

func (m *dtlsMux) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Accept returns the next client's packet stream.
func (m *dtlsMux) Accept() (net.PacketConn, net.Addr, error) {
	select {
	case p := <-m.accepts:
		return p, p.remote, nil
	case <-m.done:
		return nil, nil, net.ErrClosed
	}
}

// Close closes the socket and every client's stream.
func (m *dtlsMux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	peers := m.peers
	m.peers = map[string]*dtlsPeer{}
	m.mu.Unlock()
	for _, p := range peers {
		_ = p.in.Close()
	}
	return m.pc.Close()
}

func (m *dtlsMux) Addr() net.Addr { return m.pc.LocalAddr() }

// dtlsPeer is one client's datagrams, as the net.PacketConn pion/dtls
// reads its records from.
type dtlsPeer struct {
	m      *dtlsMux
	remote net.Addr
	key    string
	in     *packetio.Buffer
	once   sync.Once
}

func (p *dtlsPeer) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := p.in.Read(b)
	return n, p.remote, err
}

func (p *dtlsPeer) WriteTo(b []byte, _ net.Addr) (int, error) { return p.m.pc.WriteTo(b, p.remote) }

// Close forgets the client, so that a new handshake from its address
// starts a new connection.
func (p *dtlsPeer) Close() error {
	p.once.Do(func() {
		p.m.mu.Lock()
		if p.m.peers[p.key] == p {
			delete(p.m.peers, p.key)
		}
		p.m.mu.Unlock()
		_ = p.in.Close()
	})
	return nil
}

func (p *dtlsPeer) LocalAddr() net.Addr                { return p.m.pc.LocalAddr() }
func (p *dtlsPeer) SetDeadline(t time.Time) error      { return p.in.SetReadDeadline(t) }
func (p *dtlsPeer) SetReadDeadline(t time.Time) error  { return p.in.SetReadDeadline(t) }
func (p *dtlsPeer) SetWriteDeadline(_ time.Time) error { return nil }

// dtlsServerConfig serves DTLS with the certificates of the TLS config.
func dtlsServerConfig(tc *tls.Config) *dtls.Config {
	return &dtls.Config{
		Certificates:         tc.Certificates,
		ExtendedMasterSecret: dtls.RequestExtendedMasterSecret,
	}
}

// listenDTLS opens a dtls listener: a UDP socket from the Net, cut per
// client and wrapped by pion/dtls, framed like a TLS connection.
func (s *Server) listenDTLS(l Listener) (net.Listener, error) {
	pc, err := s.cfg.Net.ListenPacket("udp", l.Addr)
	if err != nil {
		return nil, &ListenError{Network: l.Network, Addr: l.Addr, Err: err}
	}
	setBuffers(pc, s.cfg.SocketBuffer)
	inner, err := dtls.NewListener(newDTLSMux(pc), dtlsServerConfig(s.cfg.TLSConfig))
	if err != nil {
		_ = pc.Close()
		return nil, &ListenError{Network: l.Network, Addr: l.Addr, Err: err}
	}
	ln := newTCPListener(inner, s, l.Network)
	s.closers = append(s.closers, ln.Close)
	s.addrs = append(s.addrs, Listener{Network: l.Network, Addr: pc.LocalAddr().String()})
	return ln, nil
}
