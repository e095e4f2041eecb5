package load

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3"

	"github.com/natkit/natkit/internal/turnconn"
)

// Request method labels used in outcomes and metric names.
const (
	methodAllocate    = "allocate"
	methodRefresh     = "refresh"
	methodDelete      = "delete"
	methodPermission  = "create-permission"
	methodChannelBind = "channel-bind"
)

// Outcome labels besides numeric error codes.
const (
	OutcomeOK        = "ok"
	OutcomeChallenge = "401-challenge" // the expected first 401 that carries realm and nonce
	OutcomeTimeout   = "timeout"
	OutcomeNetwork   = "network-error"
	OutcomeMalformed = "malformed"
)

const (
	initialRTO        = 500 * time.Millisecond
	messageHeaderSize = 20
	socketBuffer      = 1 << 20
	readBufSize       = MaxSize + 128
	// payload header: magic, sender id, sequence, scheduled and actual send
	// time (ns on the run's monotonic clock).
	magic     = 0x4e4b4231 // "NKB1"
	offID     = 4
	offSeq    = 8
	offSched  = 16
	offActual = 24
)

func pad4(n int) int { return (n + 3) &^ 3 }

// session is one client 5-tuple and (once allocated) its allocation. One
// reader goroutine per session; the data path allocates nothing.
type session struct {
	id     uint32
	eng    *engine
	conn   io.WriteCloser // the connection to the server
	rd     io.Reader      // conn's read side; nil when the fast path reads
	tcp    bool
	fast   bool      // conn is a non-blocking UDP socket read by the engine's fast path
	fd     int       // the fast path's socket
	shard  int       // the fast path thread that reads fd
	txq    sendQueue // the fast path thread's send batch; nil: conn.Write per packet
	br     *bufio.Reader
	closed atomic.Bool
	done   chan struct{}

	user, pass string
	nonce      stun.Nonce
	realmAttr  stun.Realm
	key        stun.MessageIntegrity

	relayed *net.UDPAddr
	peer    *net.UDPAddr
	channel uint16

	mu     sync.Mutex
	waitID [stun.TransactionIDSize]byte
	waitCh chan response

	// Data path. sendBuf belongs to the sender goroutine, echoBuf and rx to
	// the reader goroutine.
	sendBuf []byte
	sendOff int
	echoBuf []byte
	echoOff int
	sent    int64
	late    int64
	firstTx time.Duration // scheduled start of this session's traffic
	rx      rxStats
}

// response is a STUN response and when it was received (on the run's
// clock: the kernel's receive time on the batched path), so request
// latency does not include the wait for a reader to wake.
type response struct {
	raw []byte
	at  time.Duration
}

// rxStats is what one session's reader learns about its own packets.
type rxStats struct {
	seen        []uint64
	maxSeq      int64
	received    int64
	dups        int64
	reordered   int64
	jitter      float64 // RFC 3550 interarrival jitter, ns
	lastTransit int64
	haveTransit bool
}

func (e *engine) dial(ctx context.Context, id uint32) (*session, error) {
	s := &session{id: id, eng: e, done: make(chan struct{}), waitCh: make(chan response, 1)}
	s.rx.maxSeq = -1
	var err error
	if e.cfg.Transport != TransportUDP {
		var c *turnconn.Conn
		if c, err = e.connect(ctx); err == nil {
			if c.Datagram() { // dtls: one message per record, retransmitted like udp
				s.conn, s.rd = c, c
			} else {
				s.tcp = true
				s.conn, s.br = c, bufio.NewReaderSize(c, 2048)
			}
		}
	} else if e.fast != nil {
		if err = e.fast.dial(s); err == nil {
			s.user, s.pass = e.credentials()
			return s, nil
		}
	} else {
		var uc transport.UDPConn
		if uc, err = e.cfg.Net.DialUDP("udp", nil, e.serverAddr); err == nil {
			// Bursts of echoes must not overflow the default buffer; the
			// kernel charges only what is queued.
			_ = uc.SetReadBuffer(socketBuffer)
			s.conn, s.rd = uc, uc
		}
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s over %s: %w", e.serverAddr, e.cfg.Transport, err)
	}
	s.user, s.pass = e.credentials()
	go s.readLoop()
	return s, nil
}

// connect opens a TCP connection to the server (completing the TLS
// handshake over "tls"), or a DTLS association over "dtls", within
// RequestTimeout. Its duration is MetricConnect.
func (e *engine) connect(ctx context.Context) (*turnconn.Conn, error) {
	c, err := turnconn.Dial(ctx, turnconn.Config{Net: e.cfg.Net, Network: e.cfg.Transport, Addr: e.serverAddr.String(),
		TLS: e.cfg.TLSConfig, Timeout: e.cfg.RequestTimeout})
	var de *turnconn.DialError
	if errors.As(err, &de) && de.Handshake {
		return nil, &TLSError{Server: e.serverAddr.String(), Network: e.cfg.Transport,
			Problem: turnconn.Describe(de.Err, strings.ToUpper(e.cfg.Transport), e.cfg.TLSConfig.ServerName), Err: de.Err}
	}
	if err != nil {
		return nil, err
	}
	e.connectLatency.RecordDuration(c.Connect)
	return c, nil
}

func (s *session) close() {
	if s.closed.Swap(true) {
		return
	}
	if s.fast {
		s.eng.fast.remove(s)
		_ = s.conn.Close()
		close(s.done)
		return
	}
	_ = s.conn.Close()
	<-s.done
}

// readFrame reads one datagram (UDP) or one STUN/ChannelData frame (TCP).
func (s *session) readFrame(buf []byte) (int, error) {
	if !s.tcp {
		return s.rd.Read(buf)
	}
	if _, err := io.ReadFull(s.br, buf[:4]); err != nil {
		return 0, err
	}
	var n int
	if buf[0]&0xC0 == 0x40 { // ChannelData, padded to 4 over TCP
		n = 4 + pad4(int(binary.BigEndian.Uint16(buf[2:4])))
	} else {
		n = messageHeaderSize + int(binary.BigEndian.Uint16(buf[2:4]))
	}
	if n > len(buf) {
		return 0, fmt.Errorf("%w: %d-byte frame", ErrMalformed, n)
	}
	if _, err := io.ReadFull(s.br, buf[4:n]); err != nil {
		return 0, err
	}
	return n, nil
}

func (s *session) readLoop() {
	defer close(s.done)
	buf := make([]byte, readBufSize)
	for {
		n, err := s.readFrame(buf)
		if err != nil {
			if s.closed.Load() {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				// ICMP port unreachable on the connected socket: the
				// server is gone. Keep reading; the watchdog decides.
				s.eng.refused.Add(1)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			s.eng.readErrors.Add(1)
			s.eng.log.Debug("read", "session", s.id, "err", err)
			return
		}
		now := s.eng.now()
		s.eng.lastRx.Store(int64(now))
		s.handle(buf[:n], now)
	}
}

// handle dispatches one datagram or frame received at `at` (on the run's
// monotonic clock).
func (s *session) handle(b []byte, at time.Duration) {
	if len(b) >= 4 && b[0]&0xC0 == 0x40 {
		l := int(binary.BigEndian.Uint16(b[2:4]))
		if 4+l <= len(b) {
			s.onData(b[4:4+l], at)
		}
		return
	}
	if !stun.IsMessage(b) {
		return
	}
	m := &stun.Message{Raw: b}
	if err := m.Decode(); err != nil {
		return
	}
	switch m.Type.Class {
	case stun.ClassIndication:
		if m.Type.Method == stun.MethodData {
			if v, err := m.Get(stun.AttrData); err == nil {
				s.onData(v, at)
			}
		}
	case stun.ClassSuccessResponse, stun.ClassErrorResponse:
		s.mu.Lock()
		match := m.TransactionID == s.waitID
		if match {
			s.waitID = [stun.TransactionIDSize]byte{}
		}
		s.mu.Unlock()
		if match {
			select {
			case s.waitCh <- response{raw: append([]byte(nil), b...), at: at}:
			default:
			}
		}
	}
}

// transact sends one request and waits for its response, answering the
// 401 challenge and 438 stale nonce itself. Every attempt's outcome is
// counted.
func (s *session) transact(ctx context.Context, method string, mt stun.Method, attrs ...stun.Setter) (*stun.Message, error) {
	for attempt := 0; ; attempt++ {
		tid := stun.NewTransactionID()
		setters := append([]stun.Setter{stun.NewTransactionIDSetter(tid), stun.NewType(mt, stun.ClassRequest)}, attrs...)
		if s.key != nil {
			setters = append(setters, stun.NewUsername(s.user), s.realmAttr, s.nonce, s.key)
		}
		msg, err := stun.Build(setters...)
		if err != nil {
			return nil, fmt.Errorf("build %s request: %w", method, err)
		}
		raw := msg.Raw
		if s.tcp {
			raw = append([]byte(nil), raw...)
		}
		start := s.eng.now()
		resp, err := s.roundTrip(ctx, tid, raw)
		if err != nil {
			if errors.Is(err, ErrTimeout) {
				s.eng.outcome(method, OutcomeTimeout)
				return nil, &TimeoutError{Method: method, Server: s.eng.serverAddr.String(), After: s.eng.cfg.RequestTimeout.String()}
			}
			if ctx.Err() == nil {
				s.eng.outcome(method, OutcomeNetwork)
			}
			return nil, fmt.Errorf("turn %s %s: %w", method, s.eng.serverAddr, err)
		}
		m := &stun.Message{Raw: resp.raw}
		if err := m.Decode(); err != nil {
			s.eng.outcome(method, OutcomeMalformed)
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, method, err)
		}
		if m.Type.Class == stun.ClassSuccessResponse {
			s.eng.outcome(method, OutcomeOK)
			s.eng.requestLatency(method, resp.at-start)
			return m, nil
		}
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(m); err != nil {
			s.eng.outcome(method, OutcomeMalformed)
			return nil, fmt.Errorf("%w: %s error response without error code", ErrMalformed, method)
		}
		code := int(ec.Code)
		if attempt < 2 && (code == 401 && s.key == nil || code == 438) {
			var nonce stun.Nonce
			var realm stun.Realm
			if nonce.GetFrom(m) == nil && (code == 438 || realm.GetFrom(m) == nil) {
				if code == 401 {
					s.eng.outcome(method, OutcomeChallenge)
					s.realmAttr = realm
					s.key = stun.NewLongTermIntegrity(s.user, realm.String(), s.pass)
				} else {
					s.eng.outcome(method, "438")
				}
				s.nonce = nonce
				continue
			}
		}
		s.eng.outcome(method, strconv.Itoa(code))
		return nil, &ResponseError{Method: method, Server: s.eng.serverAddr.String(), Code: code, Reason: string(ec.Reason)}
	}
}

// roundTrip writes raw and waits for the response with transaction id tid,
// retransmitting over UDP (RFC 8489: RTO 500 ms, doubling) until the
// request timeout.
func (s *session) roundTrip(ctx context.Context, tid [stun.TransactionIDSize]byte, raw []byte) (response, error) {
	s.mu.Lock()
	s.waitID = tid
	s.mu.Unlock()
	select { // drop a stale response
	case <-s.waitCh:
	default:
	}
	deadline := time.NewTimer(s.eng.cfg.RequestTimeout)
	defer deadline.Stop()
	rto := initialRTO
	retrans := time.NewTimer(rto)
	defer retrans.Stop()
	if _, err := s.conn.Write(raw); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
		return response{}, err
	}
	for {
		select {
		case resp := <-s.waitCh:
			return resp, nil
		case <-s.done:
			return response{}, ErrClosed
		case <-ctx.Done():
			return response{}, ctx.Err()
		case <-deadline.C:
			return response{}, ErrTimeout
		case <-retrans.C:
			if s.tcp {
				continue
			}
			_, _ = s.conn.Write(raw)
			rto *= 2
			retrans.Reset(rto)
		}
	}
}

func lifetimeAttr(d time.Duration) stun.RawAttribute {
	v := make([]byte, 4)
	binary.BigEndian.PutUint32(v, uint32(d/time.Second))
	return stun.RawAttribute{Type: stun.AttrLifetime, Value: v}
}

var requestedUDP = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

// familyAttr is REQUESTED-ADDRESS-FAMILY (RFC 6156): 1 IPv4, 2 IPv6.
func familyAttr(f byte) stun.RawAttribute {
	return stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{f, 0, 0, 0}}
}

// allocate obtains an allocation and its relayed address.
func (s *session) allocate(ctx context.Context) error {
	attrs := []stun.Setter{requestedUDP}
	if s.eng.family != 0 {
		attrs = append(attrs, familyAttr(s.eng.family))
	}
	m, err := s.transact(ctx, methodAllocate, stun.MethodAllocate, attrs...)
	if err != nil {
		return err
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(m, stun.AttrXORRelayedAddress); err != nil {
		return fmt.Errorf("%w: allocate success without XOR-RELAYED-ADDRESS", ErrMalformed)
	}
	s.relayed = &net.UDPAddr{IP: relayed.IP, Port: relayed.Port}
	return nil
}

func (s *session) refresh(ctx context.Context, lifetime time.Duration) error {
	method := methodRefresh
	if lifetime == 0 {
		method = methodDelete
	}
	_, err := s.transact(ctx, method, stun.MethodRefresh, lifetimeAttr(lifetime))
	return err
}

func peerAttr(p *net.UDPAddr) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		return stun.XORMappedAddress{IP: p.IP, Port: p.Port}.AddToAs(m, stun.AttrXORPeerAddress)
	})
}

type setterFunc func(m *stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

// connectPeer installs the permission (and channel, in channel mode) for
// peer and prepares the data path.
func (s *session) connectPeer(ctx context.Context, peer *net.UDPAddr, channel uint16) error {
	s.peer = peer
	if _, err := s.transact(ctx, methodPermission, stun.MethodCreatePermission, peerAttr(peer)); err != nil {
		return err
	}
	if s.eng.cfg.Mode == ModeChannel {
		v := []byte{byte(channel >> 8), byte(channel), 0, 0}
		if _, err := s.transact(ctx, methodChannelBind, stun.MethodChannelBind,
			stun.RawAttribute{Type: stun.AttrChannelNumber, Value: v}, peerAttr(peer)); err != nil {
			return err
		}
		s.channel = channel
	}
	var err error
	if s.sendBuf, s.sendOff, err = s.dataFrame(); err != nil {
		return err
	}
	if s.eng.cfg.Pair {
		if s.echoBuf, s.echoOff, err = s.dataFrame(); err != nil {
			return err
		}
	}
	return nil
}

// refreshPeer renews the permission and channel binding.
func (s *session) refreshPeer(ctx context.Context) error {
	if _, err := s.transact(ctx, methodPermission, stun.MethodCreatePermission, peerAttr(s.peer)); err != nil {
		return err
	}
	if s.channel != 0 {
		v := []byte{byte(s.channel >> 8), byte(s.channel), 0, 0}
		if _, err := s.transact(ctx, methodChannelBind, stun.MethodChannelBind,
			stun.RawAttribute{Type: stun.AttrChannelNumber, Value: v}, peerAttr(s.peer)); err != nil {
			return err
		}
	}
	return nil
}

// dataFrame returns a reusable frame that carries a Size-byte payload to
// the peer, and the payload's offset in it.
func (s *session) dataFrame() ([]byte, int, error) {
	size := s.eng.cfg.Size
	if s.eng.cfg.Mode == ModeChannel {
		n := 4 + size
		if s.tcp {
			n = 4 + pad4(size)
		}
		b := make([]byte, n)
		binary.BigEndian.PutUint16(b[0:2], s.channel)
		binary.BigEndian.PutUint16(b[2:4], uint16(size))
		return b, 4, nil
	}
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAttr(s.peer), stun.RawAttribute{Type: stun.AttrData, Value: make([]byte, size)})
	if err != nil {
		return nil, 0, fmt.Errorf("build send indication: %w", err)
	}
	b := append([]byte(nil), m.Raw...)
	off := len(b) - pad4(size)
	if binary.BigEndian.Uint16(b[off-4:off-2]) != uint16(stun.AttrData) {
		return nil, 0, fmt.Errorf("%w: send indication layout", ErrMalformed)
	}
	return b, off, nil
}

// send writes the next packet of this session.
func (s *session) send(seq int64, sched, actual time.Duration) error {
	p := s.sendBuf[s.sendOff:]
	binary.BigEndian.PutUint32(p[0:4], magic)
	binary.BigEndian.PutUint32(p[offID:], s.id)
	binary.BigEndian.PutUint64(p[offSeq:], uint64(seq))
	binary.BigEndian.PutUint64(p[offSched:], uint64(sched))
	binary.BigEndian.PutUint64(p[offActual:], uint64(actual))
	if s.txq != nil {
		s.txq.queue(s.fd, s.sendBuf)
		return nil
	}
	_, err := s.conn.Write(s.sendBuf)
	return err
}

// sendQueue batches the fast path's sends (io_uring): queue copies b, to
// be sent on fd when the thread's due packets are all queued.
type sendQueue interface{ queue(fd int, b []byte) }

// onData handles a payload relayed from the peer that arrived at now.
func (s *session) onData(p []byte, now time.Duration) {
	if len(p) < MinSize || binary.BigEndian.Uint32(p[0:4]) != magic {
		s.eng.foreign.Add(1)
		return
	}
	if binary.BigEndian.Uint32(p[offID:]) != s.id {
		// A paired session's packet: echo it back unchanged.
		if s.echoBuf != nil && len(p) == s.eng.cfg.Size {
			copy(s.echoBuf[s.echoOff:], p)
			_, _ = s.conn.Write(s.echoBuf)
			s.eng.echoed.Add(1)
		} else {
			s.eng.foreign.Add(1)
		}
		return
	}
	seq := int64(binary.BigEndian.Uint64(p[offSeq:]))
	sched := time.Duration(binary.BigEndian.Uint64(p[offSched:]))
	actual := time.Duration(binary.BigEndian.Uint64(p[offActual:]))
	if seq < 0 || seq > 1<<32 || actual > now || sched > now {
		s.eng.foreign.Add(1)
		return
	}
	r := &s.rx
	w := int(seq >> 6)
	for w >= len(r.seen) {
		r.seen = append(r.seen, 0)
	}
	bit := uint64(1) << (uint(seq) & 63)
	if r.seen[w]&bit != 0 {
		r.dups++
		s.eng.dups.Add(1)
		return
	}
	r.seen[w] |= bit
	r.received++
	if seq < r.maxSeq {
		r.reordered++
	} else {
		r.maxSeq = seq
	}
	transit := int64(now - actual)
	if r.haveTransit {
		d := float64(transit - r.lastTransit)
		if d < 0 {
			d = -d
		}
		r.jitter += (d - r.jitter) / 16
	}
	r.lastTransit, r.haveTransit = transit, true
	s.eng.onEcho(len(p), sched, now-actual, now-sched)
}
