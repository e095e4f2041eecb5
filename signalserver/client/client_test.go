package client_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg signalserver.Config) string {
	t.Helper()
	srv, err := signalserver.NewServer(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
}

func TestDialErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, "ws://127.0.0.1:1/ws", nil)
	require.ErrorContains(t, err, "dial signal server ws://127.0.0.1:1/ws")

	url := start(t, signalserver.Config{MaxConnections: 1})
	c, err := client.Dial(ctx, url, nil)
	require.NoError(t, err)
	defer c.Close()
	_, err = client.Dial(ctx, url, nil)
	require.ErrorContains(t, err, "http 503: server_full")
}

// RecvType keeps the messages it skips, in order, for later Recv calls.
func TestRecvTypeKeepsOthers(t *testing.T) {
	url := start(t, signalserver.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := client.Dial(ctx, url, nil)
	require.NoError(t, err)
	defer a.Close()
	b, err := client.Dial(ctx, url, nil)
	require.NoError(t, err)
	defer b.Close()
	_, err = a.Join(ctx, "r", client.JoinOptions{Peer: "a"})
	require.NoError(t, err)
	_, err = b.Join(ctx, "r", client.JoinOptions{Peer: "b"})
	require.NoError(t, err)
	require.NoError(t, b.SendOffer(ctx, "a", "1"))
	require.NoError(t, b.SendCandidate(ctx, "a", protocol.Candidate{Candidate: "c"}))
	require.NoError(t, b.SendAnswer(ctx, "a", "2"))
	m, err := a.RecvType(ctx, protocol.TypeAnswer)
	require.NoError(t, err)
	require.Equal(t, "2", m.SDP)
	for _, want := range []string{protocol.TypePeerJoined, protocol.TypeOffer, protocol.TypeCandidate} {
		m, err := a.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, want, m.Type)
	}
	// An error frame ends RecvType with a *protocol.Error.
	require.NoError(t, a.SendOffer(ctx, "a", "to myself"))
	_, err = a.RecvType(ctx, protocol.TypeOffer)
	var pe *protocol.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, protocol.CodeBadMessage, pe.Code)
	require.Equal(t, "a", a.Peer())
}

func TestRecvAfterClose(t *testing.T) {
	url := start(t, signalserver.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, nil)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = c.Recv(ctx)
	require.ErrorIs(t, err, client.ErrClosed)
}
