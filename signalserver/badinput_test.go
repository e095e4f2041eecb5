package signalserver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

// TestBadInput: each bad frame gets a typed error frame, the connection
// (unless the input requires closing it) and the server stay up.
func TestBadInput(t *testing.T) {
	type tc struct {
		name   string
		joined bool // send after joining room "r"
		frame  string
		binary bool
		code   string
		msg    string // part of the message
	}
	cases := []tc{
		{name: "not json", frame: "hello", code: protocol.CodeBadMessage, msg: "not a JSON message object"},
		{name: "json array", frame: `[1,2]`, code: protocol.CodeBadMessage, msg: "not a JSON message object"},
		{name: "trailing data", frame: `{"type":"ping"}{}`, code: protocol.CodeBadMessage, msg: "after top-level value"},
		{name: "binary frame", frame: `{"type":"ping"}`, binary: true, code: protocol.CodeBadMessage, msg: "binary frame"},
		{name: "no type", frame: `{"room":"r"}`, code: protocol.CodeBadMessage, msg: `no "type"`},
		{name: "unknown type", frame: `{"type":"dance"}`, code: protocol.CodeBadMessage, msg: `unknown message type "dance"`},
		{name: "wrong field type", frame: `{"type":"join","room":5}`, code: protocol.CodeBadMessage, msg: "room"},
		{name: "join without room", frame: `{"type":"join"}`, code: protocol.CodeBadMessage, msg: `missing "room"`},
		{name: "join bad room id", frame: `{"type":"join","room":"a b"}`, code: protocol.CodeBadMessage, msg: `character ' '`},
		{name: "resume without peer", frame: `{"type":"join","room":"r","resume":"x"}`, code: protocol.CodeBadMessage, msg: `needs "peer"`},
		{name: "offer before join", frame: `{"type":"offer","sdp":"x"}`, code: protocol.CodeNotInRoom, msg: "join a room first"},
		{name: "offer without sdp", joined: true, frame: `{"type":"offer"}`, code: protocol.CodeBadMessage, msg: `missing "sdp"`},
		{name: "candidate without candidate", joined: true, frame: `{"type":"candidate"}`, code: protocol.CodeBadMessage, msg: `missing "candidate"`},
		{name: "spoofed from", joined: true, frame: `{"type":"offer","sdp":"x","from":"b"}`, code: protocol.CodeBadMessage, msg: `"from" is set by the server`},
		{name: "to self", joined: true, frame: `{"type":"offer","sdp":"x","to":"me"}`, code: protocol.CodeBadMessage, msg: "sender itself"},
		{name: "second room", joined: true, frame: `{"type":"join","room":"other"}`, code: protocol.CodeBadMessage, msg: `already in room "r`},
		{name: "bye to unknown", joined: true, frame: `{"type":"bye","to":"nobody"}`, code: protocol.CodeUnknownPeer, msg: `no peer "nobody"`},
	}
	for _, hk := range hubKinds() {
		t.Run(hk.name, func(t *testing.T) {
			c := hk.instances(t, 1, signalserver.Config{})
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := ctxT(t)
					cl := c.dial(0)
					if tc.joined {
						_, err := cl.Join(ctx, fmt.Sprintf("r%d", i), client.JoinOptions{Peer: "me"})
						require.NoError(t, err)
					}
					typ := websocket.MessageText
					if tc.binary {
						typ = websocket.MessageBinary
					}
					require.NoError(t, cl.SendRaw(ctx, typ, []byte(tc.frame)))
					m := recvError(t, cl, tc.code)
					require.Contains(t, m.Message, tc.msg)
					// The connection is still usable.
					require.NoError(t, cl.Ping(ctx))
					recvType(t, cl, protocol.TypePong)
					require.NoError(t, cl.Close())
				})
			}
		})
	}
}

// TestNoLeakAcrossRooms: "to" naming a peer of another room is never
// delivered there; the sender gets undelivered.
func TestNoLeakAcrossRooms(t *testing.T) {
	for _, hk := range hubKinds() {
		t.Run(hk.name, func(t *testing.T) {
			c := hk.instances(t, 2, signalserver.Config{QueueTTL: 300 * time.Millisecond})
			ctx := ctxT(t)
			a, x := c.dial(0), c.dial(1)
			_, err := a.Join(ctx, "room-a", client.JoinOptions{Peer: "a"})
			require.NoError(t, err)
			_, err = x.Join(ctx, "room-x", client.JoinOptions{Peer: "x"})
			require.NoError(t, err)
			require.NoError(t, a.SendOffer(ctx, "x", "secret"))
			m := recvError(t, a, protocol.CodeUndelivered)
			require.Contains(t, m.Message, `"x"`)
			noMessage(t, x, 200*time.Millisecond)
		})
	}
}

func TestTooLargeThenClose(t *testing.T) {
	c := memoryHub().instances(t, 1, signalserver.Config{MaxMessageSize: 1024})
	ctx := ctxT(t)
	cl := c.dial(0)
	require.NoError(t, cl.SendRaw(ctx, websocket.MessageText, []byte(`{"type":"offer","sdp":"`+strings.Repeat("x", 2000)+`"}`)))
	m := recvError(t, cl, protocol.CodeTooLarge)
	require.Contains(t, m.Message, "1024 bytes")
	_, err := cl.Recv(ctx)
	var ce *client.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.StatusMessageTooBig, ce.Code)
	// The server is still up.
	cl2 := c.dial(0)
	_, err = cl2.Join(ctx, "r", client.JoinOptions{})
	require.NoError(t, err)
}

func TestFloodIsRateLimited(t *testing.T) {
	c := memoryHub().instances(t, 1, signalserver.Config{RatePerSecond: 10, RateBurst: 20})
	ctx := ctxT(t)
	cl := c.dial(0)
	for range 100 {
		require.NoError(t, cl.Ping(ctx))
	}
	pongs, limited := 0, 0
	for pongs+limited < 21 {
		m, err := cl.Recv(ctx)
		require.NoError(t, err)
		switch m.Type {
		case protocol.TypePong:
			pongs++
		case protocol.TypeError:
			require.Equal(t, protocol.CodeRateLimited, m.Code)
			require.Contains(t, m.Message, "messages dropped")
			limited++
		}
	}
	require.Equal(t, 20, pongs, "the burst passes")
	require.Equal(t, 1, limited, "one rate_limited frame per second, not one per message")
	// After refilling, it works again.
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, cl.Ping(ctx))
	recvType(t, cl, protocol.TypePong)
}

// TestSlowConsumer: a peer that stops reading is disconnected with a
// reason, and its sender is never stalled; with the Redis hub the slow
// peer is on the other instance.
func TestSlowConsumer(t *testing.T) {
	for _, hk := range hubKinds() {
		t.Run(hk.name, func(t *testing.T) {
			c := hk.instances(t, 2, signalserver.Config{WriteTimeout: time.Second, RatePerSecond: 1e6, RateBurst: 1e6, MaxMessageSize: 1 << 20})
			// 100 MB go through the server: slow under the race detector.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sender := c.dial(0)
			slowCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			slow, err := client.Dial(slowCtx, c.wsURL(1), &client.Options{RecvQueue: 1})
			require.NoError(t, err)
			defer slow.Abort()
			_, err = slow.Join(ctx, "r", client.JoinOptions{Peer: "slow"})
			require.NoError(t, err)
			_, err = sender.Join(ctx, "r", client.JoinOptions{Peer: "sender"})
			require.NoError(t, err)
			// The sender keeps reading (undelivered errors come back once the slow
			// peer is gone); it waits for peer-left.
			left := make(chan string, 1)
			readerDone := make(chan struct{})
			go func() {
				defer close(readerDone)
				for {
					m, err := sender.Recv(ctx)
					if err != nil {
						t.Logf("sender connection ended: %v", err)
						return
					}
					if m.Type == protocol.TypePeerLeft {
						left <- m.Peer
					}
				}
			}()
			defer func() { sender.Abort(); <-readerDone }()
			sdp := strings.Repeat("s", 512<<10)
			start := time.Now()
			for i := 0; i < 200; i++ {
				require.NoError(t, sender.SendOffer(ctx, "slow", sdp), "send %d", i)
			}
			t.Logf("200 × 512 KiB sent in %s without waiting for the slow peer", time.Since(start))
			select {
			case p := <-left:
				require.Equal(t, "slow", p)
			case <-ctx.Done():
				t.Fatal("the slow peer was not disconnected")
			}
			// The slow peer's connection is gone. (The close reason reaches it only
			// if its socket drains before the close handshake times out.)
			for {
				_, err := slow.Recv(ctx)
				if err != nil {
					var ce *client.CloseError
					if errors.As(err, &ce) {
						require.Contains(t, ce.Reason, "slow consumer")
					}
					break
				}
			}
			require.Eventually(t, func() bool {
				n := 0
				for _, srv := range c.servers {
					n += srv.Stats().Connections
				}
				return n == 1 // the sender's
			}, 5*time.Second, 20*time.Millisecond)
		})
	}
}

// TestResume: a dropped peer resumes with its token and gets what was
// queued; with the Redis hub it resumes on the other instance. Without a
// resume the grace period ends in peer-left and undelivered.
func TestResume(t *testing.T) {
	for _, hk := range hubKinds() {
		t.Run(hk.name, func(t *testing.T) {
			c := hk.instances(t, 2, signalserver.Config{ResumeGrace: 2 * time.Second})
			ctx := ctxT(t)
			a, b := c.dial(0), c.dial(1)
			ja, err := a.Join(ctx, "r", client.JoinOptions{Peer: "a"})
			require.NoError(t, err)
			_, err = b.Join(ctx, "r", client.JoinOptions{Peer: "b"})
			require.NoError(t, err)
			recvType(t, a, protocol.TypePeerJoined)

			a.Abort() // the network drops: no close frame
			time.Sleep(100 * time.Millisecond)
			require.NoError(t, b.SendOffer(ctx, "a", "while-away"))

			// A wrong resume token is refused.
			bad := c.dial(1)
			_, err = bad.Join(ctx, "r", client.JoinOptions{Peer: "a", Resume: "wrong"})
			var pe *protocol.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, protocol.CodeUnauthorize, pe.Code)

			a2 := c.dial(1) // the other instance, with the Redis hub
			j2, err := a2.Join(ctx, "r", client.JoinOptions{Peer: "a", Resume: ja.Resume})
			require.NoError(t, err)
			require.Equal(t, []string{"b"}, j2.Peers)
			m := recvType(t, a2, protocol.TypeOffer)
			require.Equal(t, "while-away", m.SDP)
			noMessage(t, b, 200*time.Millisecond) // b never saw a leave

			// Without a resume, the grace period ends in peer-left, and
			// what was queued comes back as undelivered.
			a2.Abort()
			time.Sleep(100 * time.Millisecond)
			require.NoError(t, b.SendOffer(ctx, "a", "lost"))
			seen := map[string]bool{}
			for !seen[protocol.TypePeerLeft] || !seen[protocol.CodeUndelivered] {
				m, err := b.Recv(ctx)
				require.NoError(t, err)
				if m.Type == protocol.TypeError {
					require.Equal(t, protocol.CodeUndelivered, m.Code, m.Message)
					seen[m.Code] = true
				} else {
					require.Equal(t, protocol.TypePeerLeft, m.Type)
					seen[m.Type] = true
				}
			}
		})
	}
}

func TestAuthToken(t *testing.T) {
	const secret = "s3cret"
	c := memoryHub().instances(t, 1, signalserver.Config{AuthSecret: secret})
	exp := time.Now().Add(time.Hour).Unix()
	tok := func(cl signalserver.RoomClaims) string {
		s, err := signalserver.NewRoomToken(secret, cl)
		require.NoError(t, err)
		return s
	}
	other, err := signalserver.NewRoomToken("other", signalserver.RoomClaims{Room: "r", Expiry: exp})
	require.NoError(t, err)
	cases := []struct {
		name, room, token, peer string
		wantErr                 string
		wantPeer                string
	}{
		{name: "no token", room: "r", wantErr: "none was given"},
		{name: "garbage", room: "r", token: "abc", wantErr: "3 dot-separated parts"},
		{name: "wrong secret", room: "r", token: other, wantErr: "signature does not match"},
		{name: "other room", room: "r", token: tok(signalserver.RoomClaims{Room: "q", Expiry: exp}), wantErr: `for room "q"`},
		{name: "expired", room: "r", token: tok(signalserver.RoomClaims{Room: "r", Expiry: time.Now().Add(-time.Minute).Unix()}), wantErr: "expired"},
		{name: "other peer", room: "r", peer: "eve", token: tok(signalserver.RoomClaims{Room: "r", Peer: "bob", Expiry: exp}), wantErr: `for peer "bob"`},
		{name: "valid", room: "r", token: tok(signalserver.RoomClaims{Room: "r", Expiry: exp})},
		{name: "valid with peer", room: "r", token: tok(signalserver.RoomClaims{Room: "r", Peer: "bob", Expiry: exp}), wantPeer: "bob"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			cl := c.dial(0)
			j, err := cl.Join(ctx, tc.room, client.JoinOptions{Token: tc.token, Peer: tc.peer})
			if tc.wantErr == "" {
				require.NoError(t, err)
				if tc.wantPeer != "" {
					require.Equal(t, tc.wantPeer, j.Peer)
				}
				require.NoError(t, cl.Close())
				return
			}
			var pe *protocol.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, protocol.CodeUnauthorize, pe.Code)
			require.Contains(t, pe.Message, tc.wantErr)
		})
	}
}
