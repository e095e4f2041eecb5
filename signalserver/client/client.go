// Package client is the Go client of natkit's signaling server (protocol
// v1, see package protocol). Tests and the call probe use it.
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:8080/ws", nil)
//	joined, err := c.Join(ctx, "room1", client.JoinOptions{})
//	err = c.Send(ctx, protocol.Message{Type: protocol.TypeOffer, To: joined.Peers[0], SDP: sdp})
//	msg, err := c.Recv(ctx) // relayed offer/answer/candidate/bye, presence, error frames
//	c.Close()
//
// Recv returns error frames as messages (msg.Err() != nil); they are not
// fatal — for example rate_limited or undelivered. Recv returns an error only
// when the connection is gone; the close reason the server gave is in the
// error (see *CloseError).
//
// For a call, Signaler is one peer's signaling (a probe/call Signaler that
// records the room's events into the call's timeline), and Call places a
// whole call through a server: what natkit call runs.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/natkit/natkit/signalserver/protocol"
)

// Options configure Dial. The zero value is usable.
type Options struct {
	// HTTPClient dials the WebSocket; default http.DefaultClient.
	HTTPClient *http.Client
	// Header is sent with the handshake (e.g. Origin); default none.
	Header http.Header
	// RecvQueue is how many received messages are buffered before the
	// client stops reading (back-pressure); default 256.
	RecvQueue int
	// ReadLimit is the largest frame accepted from the server; default 1 MiB.
	ReadLimit int64
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.RecvQueue <= 0 {
		out.RecvQueue = 256
	}
	if out.ReadLimit <= 0 {
		out.ReadLimit = 1 << 20
	}
	return out
}

// JoinOptions are the optional fields of a join.
type JoinOptions struct {
	// Token is the room token, when the server requires one.
	Token string
	// Peer asks for this peer id; default: the server assigns one.
	Peer string
	// Resume is the resume token from an earlier Joined, to resume Peer's
	// session within the server's grace period.
	Resume string
}

// Client is one connection to a signaling server. Send and Recv may be
// called from different goroutines; Recv from one goroutine at a time.
type Client struct {
	conn *websocket.Conn
	in   chan protocol.Message

	mu      sync.Mutex
	err     error
	pending []protocol.Message
	joined  *protocol.Message

	done chan struct{}
}

// CloseError is returned by Recv when the server closed the connection.
type CloseError struct {
	Code   websocket.StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("signal connection closed by server: %s (%d)", e.Reason, int(e.Code))
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("signal client closed")

// Dial connects to the server's WebSocket URL (ws:// or wss://, path /ws).
func Dial(ctx context.Context, url string, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: o.HTTPClient, HTTPHeader: o.Header})
	if resp != nil && resp.Body != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			body := ""
			if resp.Body != nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				body = strings.TrimSpace(string(b))
			}
			if body != "" {
				return nil, fmt.Errorf("dial signal server %s: http %d: %s: %w", url, resp.StatusCode, body, err)
			}
			return nil, fmt.Errorf("dial signal server %s: http %d: %w", url, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("dial signal server %s: %w", url, err)
	}
	conn.SetReadLimit(o.ReadLimit)
	c := &Client{conn: conn, in: make(chan protocol.Message, o.RecvQueue), done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

func (c *Client) readLoop() {
	defer close(c.done)
	defer close(c.in)
	for {
		typ, data, err := c.conn.Read(context.Background())
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				err = &CloseError{Code: ce.Code, Reason: ce.Reason}
			}
			c.setErr(err)
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		var m protocol.Message
		if err := json.Unmarshal(data, &m); err != nil {
			c.setErr(fmt.Errorf("signal server sent a malformed frame: %w", err))
			_ = c.conn.Close(websocket.StatusUnsupportedData, "malformed frame")
			return
		}
		c.in <- m
	}
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Send writes one message.
func (c *Client) Send(ctx context.Context, m protocol.Message) error {
	if err := c.conn.Write(ctx, websocket.MessageText, protocol.Encode(m)); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// SendRaw writes one text frame as is (tests of bad input).
func (c *Client) SendRaw(ctx context.Context, typ websocket.MessageType, data []byte) error {
	return c.conn.Write(ctx, typ, data)
}

// Recv returns the next message from the server.
func (c *Client) Recv(ctx context.Context) (protocol.Message, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		m := c.pending[0]
		c.pending = c.pending[1:]
		c.mu.Unlock()
		return m, nil
	}
	c.mu.Unlock()
	select {
	case m, ok := <-c.in:
		if !ok {
			if err := c.Err(); err != nil {
				return protocol.Message{}, err
			}
			return protocol.Message{}, ErrClosed
		}
		return m, nil
	case <-ctx.Done():
		return protocol.Message{}, ctx.Err()
	}
}

// RecvType returns the next message of type typ, keeping the others for
// later Recv calls. An error frame (whatever typ) is returned as a
// *protocol.Error.
func (c *Client) RecvType(ctx context.Context, typ string) (protocol.Message, error) {
	var skipped []protocol.Message
	defer func() {
		if len(skipped) > 0 {
			c.mu.Lock()
			c.pending = append(skipped, c.pending...)
			c.mu.Unlock()
		}
	}()
	for {
		m, err := c.Recv(ctx)
		if err != nil {
			return m, err
		}
		if m.Type == typ {
			return m, nil
		}
		if e := m.Err(); e != nil {
			return m, e
		}
		skipped = append(skipped, m)
	}
}

// Join joins room and waits for the server's joined (or error) reply. A
// rejected join returns a *protocol.Error (room_full, unauthorized, …).
func (c *Client) Join(ctx context.Context, room string, opts JoinOptions) (protocol.Message, error) {
	if err := c.Send(ctx, protocol.Message{Type: protocol.TypeJoin, Room: room, Token: opts.Token, Peer: opts.Peer, Resume: opts.Resume}); err != nil {
		return protocol.Message{}, err
	}
	m, err := c.RecvType(ctx, protocol.TypeJoined)
	if err != nil {
		return m, fmt.Errorf("join room %q: %w", room, err)
	}
	c.mu.Lock()
	c.joined = &m
	c.mu.Unlock()
	return m, nil
}

// Peer returns this client's peer id once joined.
func (c *Client) Peer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.joined == nil {
		return ""
	}
	return c.joined.Peer
}

// SendOffer sends an SDP offer to peer to ("" = the other peers).
func (c *Client) SendOffer(ctx context.Context, to, sdp string) error {
	return c.Send(ctx, protocol.Message{Type: protocol.TypeOffer, To: to, SDP: sdp})
}

// SendAnswer sends an SDP answer.
func (c *Client) SendAnswer(ctx context.Context, to, sdp string) error {
	return c.Send(ctx, protocol.Message{Type: protocol.TypeAnswer, To: to, SDP: sdp})
}

// SendCandidate sends a trickled ICE candidate.
func (c *Client) SendCandidate(ctx context.Context, to string, cand protocol.Candidate) error {
	return c.Send(ctx, protocol.Message{Type: protocol.TypeCandidate, To: to, Candidate: &cand})
}

// Bye tells peer to ("" = everyone) that this peer hangs up; the server
// then reports it as left.
func (c *Client) Bye(ctx context.Context, to string) error {
	return c.Send(ctx, protocol.Message{Type: protocol.TypeBye, To: to})
}

// Ping sends an application ping; the server answers pong.
func (c *Client) Ping(ctx context.Context) error {
	return c.Send(ctx, protocol.Message{Type: protocol.TypePing})
}

// Close closes the connection normally and waits for the reader to stop.
func (c *Client) Close() error {
	c.setErr(ErrClosed)
	err := c.conn.Close(websocket.StatusNormalClosure, "bye")
	c.drain()
	return err
}

// Abort drops the connection without a close handshake (as a crash or a
// network failure would).
func (c *Client) Abort() {
	c.setErr(ErrClosed)
	_ = c.conn.CloseNow()
	c.drain()
}

func (c *Client) drain() {
	for {
		select {
		case <-c.done:
			return
		case _, ok := <-c.in:
			if !ok {
				<-c.done
				return
			}
		case <-time.After(5 * time.Second):
			_ = c.conn.CloseNow()
		}
	}
}
