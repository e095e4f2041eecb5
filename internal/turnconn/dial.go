package turnconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/transport/v3"
	"github.com/pion/turn/v4"

	"github.com/natkit/natkit/probe/iceconfig"
)

// Networks a Config dials.
const (
	UDP  = "udp"
	TCP  = "tcp"
	TLS  = "tls"  // TLS over TCP (turns:)
	DTLS = "dtls" // DTLS over UDP (turns:…?transport=udp, RFC 7350)
)

// DefaultTimeout is the default Config.Timeout.
const DefaultTimeout = 5 * time.Second

// Config says what to dial.
type Config struct {
	// Net is the network to dial through. Required.
	Net transport.Net
	// Network is udp, tcp, tls or dtls. Required.
	Network string
	// Addr is HOST:PORT (an IPv6 host in brackets). Required.
	Addr string
	// Family forces "4" or "6" when resolving Addr. Default: "", either.
	Family string
	// TLS configures tls and dtls: ServerName, RootCAs,
	// InsecureSkipVerify, Certificates and, for tls only, MinVersion and
	// MaxVersion are honoured for dtls too where DTLS has them. Default:
	// verify against the system roots for the host of Addr.
	TLS *tls.Config
	// Timeout bounds the connect and the handshake together. Default: 5s.
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

func (c Config) validate() error {
	if c.Net == nil {
		return fmt.Errorf("%w: no transport.Net", ErrConfig)
	}
	switch c.Network {
	case UDP, TCP, TLS, DTLS:
	default:
		return fmt.Errorf("%w: network %q: want udp, tcp, tls or dtls", ErrConfig, c.Network)
	}
	if c.Family != "" && c.Family != "4" && c.Family != "6" {
		return fmt.Errorf("%w: family %q: want 4, 6 or empty", ErrConfig, c.Family)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%w: address %q: want HOST:PORT", ErrConfig, c.Addr)
	}
	return nil
}

// Conn is a connection to a TURN server.
type Conn struct {
	net.Conn
	// Network is the Config's: udp, tcp, tls or dtls.
	Network string
	// Connect is how long the connect and handshake took (0 for udp).
	Connect time.Duration
}

// Datagram reports whether each Read returns one whole message (udp and
// dtls) rather than a byte stream whose frames the reader must cut.
func (c *Conn) Datagram() bool { return c.Network == UDP || c.Network == DTLS }

// Secure reports whether the connection is TLS or DTLS.
func (c *Conn) Secure() bool { return c.Network == TLS || c.Network == DTLS }

// Dial opens the connection and, for tls and dtls, completes the
// handshake, all within ctx and Config.Timeout. A failure is a
// *DialError; Classify names a handshake's problem.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	start := time.Now()
	switch cfg.Network {
	case UDP, DTLS:
		uc, err := dialUDP(cfg)
		if err != nil {
			return nil, &DialError{Network: cfg.Network, Addr: cfg.Addr, Err: err}
		}
		if cfg.Network == UDP {
			return &Conn{Conn: uc, Network: UDP}, nil
		}
		dc, err := dtls.Client(datagramConn{uc}, uc.RemoteAddr(), dtlsConfig(cfg))
		if err == nil {
			err = dc.HandshakeContext(ctx)
		}
		if err != nil {
			if dc != nil {
				_ = dc.Close()
			}
			_ = uc.Close()
			return nil, &DialError{Network: DTLS, Addr: cfg.Addr, Handshake: true, Err: handshakeErr(ctx, err)}
		}
		return &Conn{Conn: dc, Network: DTLS, Connect: time.Since(start)}, nil
	}
	c, err := dialTCP(ctx, cfg)
	if err != nil {
		return nil, &DialError{Network: cfg.Network, Addr: cfg.Addr, Err: err}
	}
	if cfg.Network == TCP {
		return &Conn{Conn: c, Network: TCP, Connect: time.Since(start)}, nil
	}
	tc := tls.Client(c, tlsConfig(cfg))
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, &DialError{Network: TLS, Addr: cfg.Addr, Handshake: true, Err: handshakeErr(ctx, err)}
	}
	return &Conn{Conn: tc, Network: TLS, Connect: time.Since(start)}, nil
}

// handshakeErr makes a handshake cut by ctx's deadline a
// context.DeadlineExceeded whatever the library wrapped it in.
func handshakeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

func network(base, family string) string { return base + family }

func dialUDP(cfg Config) (transport.UDPConn, error) {
	raddr, err := cfg.Net.ResolveUDPAddr(network("udp", cfg.Family), cfg.Addr)
	if err != nil {
		return nil, err
	}
	return cfg.Net.DialUDP(network("udp", cfg.Family), nil, raddr)
}

// dialTCP connects through the Net's dialer; one that cannot take a
// context (vnet) is abandoned when ctx ends and its late connection
// closed.
func dialTCP(ctx context.Context, cfg Config) (net.Conn, error) {
	d := cfg.Net.CreateDialer(&net.Dialer{Timeout: cfg.Timeout})
	nw := network("tcp", cfg.Family)
	if cd, ok := d.(interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	}); ok {
		return cd.DialContext(ctx, nw, cfg.Addr)
	}
	type dialed struct {
		c   net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := d.Dial(nw, cfg.Addr)
		ch <- dialed{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func tlsConfig(cfg Config) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = hostOf(cfg.Addr)
	}
	return tc
}

// dtlsConfig carries over what a tls.Config says that DTLS 1.2 has.
func dtlsConfig(cfg Config) *dtls.Config {
	tc := tlsConfig(cfg)
	return &dtls.Config{
		Certificates:          tc.Certificates,
		RootCAs:               tc.RootCAs,
		ServerName:            tc.ServerName,
		InsecureSkipVerify:    tc.InsecureSkipVerify,
		VerifyPeerCertificate: tc.VerifyPeerCertificate,
		ExtendedMasterSecret:  dtls.RequestExtendedMasterSecret,
	}
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// PacketConn is the connection as pion/turn's client takes it: datagram
// connections read one message per ReadFrom, streams are cut into STUN
// and ChannelData frames (turn.NewSTUNConn).
func (c *Conn) PacketConn() net.PacketConn {
	if c.Datagram() {
		return datagramConn{c.Conn}
	}
	return turn.NewSTUNConn(c.Conn)
}

// datagramConn is a connected datagram net.Conn as a net.PacketConn. DTLS
// runs over a connected UDP socket this way, so that an ICMP port
// unreachable ends the handshake (ECONNREFUSED) instead of the timeout.
type datagramConn struct{ net.Conn }

func (c datagramConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := c.Read(b)
	return n, c.RemoteAddr(), err
}

func (c datagramConn) WriteTo(b []byte, _ net.Addr) (int, error) { return c.Write(b) }

// NetworkOf is the network a TURN URL is dialled over: dtls for
// turns:…?transport=udp, tls for turns:, tcp for ?transport=tcp, else udp.
func NetworkOf(s iceconfig.Server) string {
	switch {
	case s.DTLS():
		return DTLS
	case s.Scheme == iceconfig.SchemeTURNS:
		return TLS
	case s.Transport == iceconfig.TransportTCP:
		return TCP
	}
	return UDP
}
