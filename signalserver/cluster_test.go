package signalserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

// cluster is one or more signal servers sharing a hub; clients are spread
// over them, so every test also runs across instances with the Redis hub.
type cluster struct {
	t       *testing.T
	servers []*signalserver.Server
	https   []*httptest.Server
}

// hubKind names a hub implementation for the shared suite.
type hubKind struct {
	name string
	// instances builds n servers sharing rooms from cfg.
	instances func(t *testing.T, n int, cfg signalserver.Config) *cluster
}

func memoryHub() hubKind {
	return hubKind{name: "memory", instances: func(t *testing.T, _ int, cfg signalserver.Config) *cluster {
		return startCluster(t, []signalserver.Config{cfg})
	}}
}

func startCluster(t *testing.T, cfgs []signalserver.Config) *cluster {
	t.Helper()
	c := &cluster{t: t}
	for _, cfg := range cfgs {
		srv, err := signalserver.NewServer(cfg)
		require.NoError(t, err)
		hs := httptest.NewServer(srv)
		c.servers = append(c.servers, srv)
		c.https = append(c.https, hs)
	}
	t.Cleanup(func() {
		for i := range c.servers {
			c.https[i].Close()
			require.NoError(t, c.servers[i].Close())
		}
	})
	return c
}

func (c *cluster) wsURL(i int) string {
	return "ws" + strings.TrimPrefix(c.https[i%len(c.https)].URL, "http") + "/ws"
}

// dial connects client number i (spread over the instances).
func (c *cluster) dial(i int) *client.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, c.wsURL(i), nil)
	require.NoError(c.t, err)
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recvType waits for a message of type typ, failing on anything else.
func recvType(t *testing.T, cl *client.Client, typ string) protocol.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := cl.Recv(ctx)
	require.NoError(t, err, "waiting for %s", typ)
	require.Equal(t, typ, m.Type, "got %+v", m)
	return m
}

// recvError waits for an error frame with code.
func recvError(t *testing.T, cl *client.Client, code string) protocol.Message {
	t.Helper()
	m := recvType(t, cl, protocol.TypeError)
	require.Equal(t, code, m.Code, "error frame %+v", m)
	return m
}

// noMessage asserts nothing arrives within d.
func noMessage(t *testing.T, cl *client.Client, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := cl.Recv(ctx)
	if err == nil {
		t.Fatalf("unexpected message %+v", m)
	}
}

func errorAs(err error, target any) bool { return errors.As(err, target) }

func newHTTPServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

func wsURLOf(hs *httptest.Server) string { return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws" }
