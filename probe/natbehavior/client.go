package natbehavior

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/pion/stun/v3"
)

// Retransmit is the RFC 5389 §7.2.1 retransmission schedule: a request is
// sent, then resent after RTO, 2·RTO, 4·RTO … until Rc requests are out;
// after the last one the client waits Rm·RTO. Budget cuts the whole
// transaction short (a probe's own bound). Zero fields take the RFC
// defaults.
type Retransmit struct {
	// RTO is the initial retransmission timeout. Default 500ms.
	RTO time.Duration
	// Rc is the number of requests sent. Default 7.
	Rc int
	// Rm is the multiple of RTO waited after the last request. Default 16.
	Rm int
	// Budget bounds the transaction. Default: the RFC total (39.5 s with
	// the defaults), and never past the context's deadline.
	Budget time.Duration
}

func (r Retransmit) withDefaults() Retransmit {
	if r.RTO <= 0 {
		r.RTO = 500 * time.Millisecond
	}
	if r.Rc <= 0 {
		r.Rc = 7
	}
	if r.Rm <= 0 {
		r.Rm = 16
	}
	return r
}

// Response is one STUN response with what natkit reads from it.
type Response struct {
	Msg *stun.Message
	// From is the address the response came from.
	From *net.UDPAddr
	// Mapped is XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS); nil if absent.
	Mapped *net.UDPAddr
	// Other is OTHER-ADDRESS (RFC 5780), or CHANGED-ADDRESS (RFC 3489);
	// nil if absent.
	Other *net.UDPAddr
	// Origin is RESPONSE-ORIGIN, nil if absent.
	Origin *net.UDPAddr
	// RTT is measured from the first request, so it includes
	// retransmission waits (Karn: a retransmitted sample is ambiguous).
	RTT time.Duration
	// Requests is how many requests were sent (1 = no retransmission).
	Requests int
}

// Client runs STUN transactions over one UDP socket. It reads the socket
// in its own goroutine until Close.
type Client struct {
	conn net.PacketConn
	rtx  Retransmit

	mu      sync.Mutex
	waiters map[[stun.TransactionIDSize]byte]chan *Response
	other   map[[stun.TransactionIDSize]byte]chan *Response
	readErr error
	done    chan struct{}
}

// NewClient starts a client on conn. Close closes conn.
func NewClient(conn net.PacketConn, rtx Retransmit) *Client {
	c := &Client{
		conn:    conn,
		rtx:     rtx.withDefaults(),
		waiters: map[[stun.TransactionIDSize]byte]chan *Response{},
		other:   map[[stun.TransactionIDSize]byte]chan *Response{},
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// LocalAddr is the socket's local address.
func (c *Client) LocalAddr() *net.UDPAddr {
	a, _ := c.conn.LocalAddr().(*net.UDPAddr)
	return a
}

// Close stops the reader and closes the socket.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

func (c *Client) readLoop() {
	defer close(c.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := c.conn.ReadFrom(buf)
		if err != nil {
			if isRefused(err) {
				c.mu.Lock()
				c.readErr = err
				c.mu.Unlock()
				continue
			}
			c.mu.Lock()
			c.readErr = err
			for _, ch := range c.waiters {
				close(ch)
			}
			c.waiters = map[[stun.TransactionIDSize]byte]chan *Response{}
			c.mu.Unlock()
			return
		}
		if !stun.IsMessage(buf[:n]) {
			continue
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := m.Decode(); err != nil {
			continue
		}
		c.mu.Lock()
		ch, ok := c.waiters[m.TransactionID]
		if !ok {
			ch, ok = c.other[m.TransactionID]
		}
		c.mu.Unlock()
		if !ok {
			continue
		}
		udp, _ := from.(*net.UDPAddr)
		select {
		case ch <- &Response{Msg: m, From: udp}:
		default:
		}
	}
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// Watch registers a transaction ID whose messages the client delivers on
// the returned channel, for requests sent from another socket (hairpin,
// RESPONSE-PORT). Call the returned function to stop watching.
func (c *Client) Watch(id [stun.TransactionIDSize]byte) (<-chan *Response, func()) {
	ch := make(chan *Response, 4)
	c.mu.Lock()
	c.other[id] = ch
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.other, id)
		c.mu.Unlock()
	}
}

// Do sends req to dst with retransmissions and returns the response. An
// error response is returned as *ResponseError (with the Response); no
// answer as *NoAnswerError.
func (c *Client) Do(ctx context.Context, dst *net.UDPAddr, req *stun.Message) (*Response, error) {
	return c.DoElsewhere(ctx, dst, req, nil)
}

// DoElsewhere is Do, but the answer is also awaited on extra (a
// Watch channel of another client), for requests whose response goes to
// another socket. Responses on extra do not carry RTT.
func (c *Client) DoElsewhere(ctx context.Context, dst *net.UDPAddr, req *stun.Message, extra <-chan *Response) (*Response, error) {
	ch := make(chan *Response, 4)
	c.mu.Lock()
	if c.readErr != nil && !isRefused(c.readErr) {
		err := c.readErr
		c.mu.Unlock()
		return nil, errors.Join(ErrClosed, err)
	}
	c.waiters[req.TransactionID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, req.TransactionID)
		c.mu.Unlock()
	}()

	start := time.Now()
	var deadline <-chan time.Time
	if c.rtx.Budget > 0 {
		t := time.NewTimer(c.rtx.Budget)
		defer t.Stop()
		deadline = t.C
	}
	rto := c.rtx.RTO
	requests := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		if requests < c.rtx.Rc {
			if _, err := c.conn.WriteTo(req.Raw, dst); err != nil {
				if isRefused(err) {
					return nil, &net.OpError{Op: "write", Net: "udp", Addr: dst, Err: ErrUnreachable}
				}
				return nil, err
			}
			requests++
			wait := rto
			if requests == c.rtx.Rc {
				wait = time.Duration(c.rtx.Rm) * c.rtx.RTO
			}
			timer.Reset(wait)
			rto *= 2
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				// The caller's bound ran out before ours: still no answer.
				return nil, &NoAnswerError{Server: dst.String(), Requests: requests, Waited: time.Since(start)}
			}
			return nil, ctx.Err()
		case <-deadline:
			return nil, &NoAnswerError{Server: dst.String(), Requests: requests, Waited: time.Since(start)}
		case r, ok := <-ch:
			if !ok {
				return nil, ErrClosed
			}
			return finish(r, dst, start, requests)
		case r := <-extra:
			return finish(r, dst, start, requests)
		case <-timer.C:
			c.mu.Lock()
			refused := c.readErr != nil && isRefused(c.readErr)
			c.readErr = nil
			c.mu.Unlock()
			if refused {
				return nil, &net.OpError{Op: "read", Net: "udp", Addr: dst, Err: ErrUnreachable}
			}
			if requests >= c.rtx.Rc {
				return nil, &NoAnswerError{Server: dst.String(), Requests: requests, Waited: time.Since(start)}
			}
		}
	}
}

func finish(r *Response, dst *net.UDPAddr, start time.Time, requests int) (*Response, error) {
	r.RTT = time.Since(start)
	r.Requests = requests
	decodeAddrs(r)
	if r.Msg.Type.Class == stun.ClassErrorResponse {
		var ec stun.ErrorCodeAttribute
		code, reason := 0, "(no ERROR-CODE)"
		if ec.GetFrom(r.Msg) == nil {
			code, reason = int(ec.Code), string(ec.Reason)
		}
		return r, &ResponseError{Server: dst.String(), Code: code, Reason: reason}
	}
	return r, nil
}

func decodeAddrs(r *Response) {
	var xa stun.XORMappedAddress
	if xa.GetFrom(r.Msg) == nil {
		r.Mapped = &net.UDPAddr{IP: xa.IP, Port: xa.Port}
	} else {
		var ma stun.MappedAddress
		if ma.GetFrom(r.Msg) == nil {
			r.Mapped = &net.UDPAddr{IP: ma.IP, Port: ma.Port}
		}
	}
	var oa stun.OtherAddress
	if oa.GetFrom(r.Msg) == nil {
		r.Other = &net.UDPAddr{IP: oa.IP, Port: oa.Port}
	} else {
		var ca stun.MappedAddress
		if ca.GetFromAs(r.Msg, stun.AttrChangedAddress) == nil {
			r.Other = &net.UDPAddr{IP: ca.IP, Port: ca.Port}
		}
	}
	var ro stun.ResponseOrigin
	if ro.GetFrom(r.Msg) == nil {
		r.Origin = &net.UDPAddr{IP: ro.IP, Port: ro.Port}
	}
}

// Change-request flags (RFC 5780 §7.2).
const (
	ChangeIP   = 0x04
	ChangePort = 0x02
)

// BindingRequest builds a Binding request. change sets CHANGE-REQUEST
// flags (0 for none); responsePort, if non-zero, adds RESPONSE-PORT.
func BindingRequest(change byte, responsePort int) (*stun.Message, error) {
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest}
	if change != 0 {
		setters = append(setters, stun.RawAttribute{Type: stun.AttrChangeRequest, Value: []byte{0, 0, 0, change}})
	}
	if responsePort != 0 {
		setters = append(setters, stun.RawAttribute{Type: stun.AttrResponsePort, Value: []byte{byte(responsePort >> 8), byte(responsePort), 0, 0}})
	}
	setters = append(setters, stun.Fingerprint)
	return stun.Build(setters...)
}
