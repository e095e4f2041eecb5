package signalserver_test

import (
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

// joinRaw joins room r as peer over a bare WebSocket, so the test decides
// exactly how the connection ends.
func joinRaw(t *testing.T, c *cluster, i int, peer string) *websocket.Conn {
	t.Helper()
	ctx := ctxT(t)
	ws, resp, err := websocket.Dial(ctx, c.wsURL(i), nil)
	require.NoError(t, err)
	if resp.Body != nil { // nil after a successful upgrade
		_ = resp.Body.Close()
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","room":"r","peer":"`+peer+`"}`)))
	_, data, err := ws.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(data), `"joined"`)
	return ws
}

// A close frame without a status code (1005) is what a browser's
// ws.close() sends: a deliberate leave, announced at once, not after the
// resume grace.
func TestCloseWithoutStatusLeavesAtOnce(t *testing.T) {
	for _, hk := range hubKinds() {
		t.Run(hk.name, func(t *testing.T) {
			a, b := roomOfTwo(t, hk)

			// coder/websocket sends an empty close payload for StatusNoStatusRcvd.
			require.NoError(t, b.Close(websocket.StatusNoStatusRcvd, ""))
			// recvType waits 5 s; the grace is a minute.
			require.Equal(t, "b", recvType(t, a, protocol.TypePeerLeft).Peer)
		})
	}
}

// A connection dropped without any close frame (1006) keeps its place for
// the resume grace.
func TestAbnormalDropKeepsResumeGrace(t *testing.T) {
	for _, hk := range hubKinds() {
		t.Run(hk.name, func(t *testing.T) {
			a, b := roomOfTwo(t, hk)
			require.NoError(t, b.CloseNow())
			noMessage(t, a, 500*time.Millisecond)
		})
	}
}

// roomOfTwo is a room with a client "a" and a bare WebSocket "b", on
// servers whose resume grace is a minute (on two instances with the Redis
// hub).
func roomOfTwo(t *testing.T, hk hubKind) (*client.Client, *websocket.Conn) {
	t.Helper()
	c := hk.instances(t, 2, signalserver.Config{ResumeGrace: time.Minute})
	a := c.dial(0)
	_, err := a.Join(ctxT(t), "r", client.JoinOptions{Peer: "a"})
	require.NoError(t, err)
	b := joinRaw(t, c, 1, "b")
	require.Equal(t, "b", recvType(t, a, protocol.TypePeerJoined).Peer)
	return a, b
}
