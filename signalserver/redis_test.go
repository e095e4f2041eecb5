package signalserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/transport/v3/stdnet"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

// startRedis runs redis-server on 127.0.0.1 with a free port, stopped in
// t.Cleanup, and returns its URL.
func startRedis(t *testing.T) string { t.Helper(); return signalserver.StartRedis(t) }

func newRedisHub(t *testing.T, url, prefix string) signalserver.Hub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nw, err := stdnet.NewNet()
	require.NoError(t, err)
	h, err := signalserver.NewRedisHub(ctx, signalserver.RedisHubConfig{URL: url, Net: nw, Prefix: prefix, Heartbeat: 200 * time.Millisecond, DeadAfter: time.Second})
	require.NoError(t, err)
	return h
}

// redisHub runs n instances against one redis-server.
func redisHub() hubKind {
	return hubKind{name: "redis", instances: func(t *testing.T, n int, cfg signalserver.Config) *cluster {
		url := startRedis(t)
		prefix := "test:" + strings.ReplaceAll(t.Name(), "/", ":") + ":"
		var cfgs []signalserver.Config
		for range max(n, 1) {
			c := cfg
			c.Hub = newRedisHub(t, url, prefix)
			cfgs = append(cfgs, c)
		}
		return startCluster(t, cfgs)
	}}
}

// TestRedisDeadInstance: the peers of an instance that dies are reported
// left to the other instances within DeadAfter + Heartbeat.
func TestRedisDeadInstance(t *testing.T) {
	url := startRedis(t)
	hubA := newRedisHub(t, url, "dead:")
	hubB := newRedisHub(t, url, "dead:")
	c := startCluster(t, []signalserver.Config{{Hub: hubA}, {Hub: hubB}})
	ctx := ctxT(t)
	a, b := c.dial(0), c.dial(1)
	_, err := a.Join(ctx, "r", client.JoinOptions{Peer: "a"})
	require.NoError(t, err)
	_, err = b.Join(ctx, "r", client.JoinOptions{Peer: "b"})
	require.NoError(t, err)
	recvType(t, a, protocol.TypePeerJoined)

	start := time.Now()
	signalserver.CrashHub(hubA)
	m := recvType(t, b, protocol.TypePeerLeft)
	require.Equal(t, "a", m.Peer)
	took := time.Since(start)
	t.Logf("peer of the dead instance reported left after %s", took)
	require.Less(t, took, 3*time.Second, "bound is DeadAfter (1s) + Heartbeat (200ms), with slack")

	// The room has space again for a peer on the live instance.
	x := c.dial(1)
	jx, err := x.Join(ctx, "r", client.JoinOptions{Peer: "x"})
	require.NoError(t, err)
	require.Equal(t, []string{"b"}, jx.Peers)
}

// TestRedisCapacityAcrossInstances: capacity holds when the joins race on
// different instances.
func TestRedisCapacityAcrossInstances(t *testing.T) {
	c := redisHub().instances(t, 2, signalserver.Config{RoomCapacity: 3})
	ctx := ctxT(t)
	const n = 8
	results := make(chan error, n)
	for i := range n {
		cl := c.dial(i)
		go func() {
			_, err := cl.Join(ctx, "race", client.JoinOptions{})
			results <- err
		}()
	}
	ok, full := 0, 0
	for range n {
		err := <-results
		var pe *protocol.Error
		switch {
		case err == nil:
			ok++
		case errorAs(err, &pe) && pe.Code == protocol.CodeRoomFull:
			full++
		default:
			t.Fatalf("join: %v", err)
		}
	}
	require.Equal(t, 3, ok)
	require.Equal(t, n-3, full)
}

func TestRedisHubConfigErrors(t *testing.T) {
	ctx := ctxT(t)
	_, err := signalserver.NewRedisHub(ctx, signalserver.RedisHubConfig{})
	var ce *signalserver.ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "Redis.URL", ce.Field)
	_, err = signalserver.NewRedisHub(ctx, signalserver.RedisHubConfig{URL: "http://x"})
	require.ErrorAs(t, err, &ce)
	port := externaltest.FreeTCPPort(t, "127.0.0.1")
	_, err = signalserver.NewRedisHub(ctx, signalserver.RedisHubConfig{URL: fmt.Sprintf("redis://127.0.0.1:%d", port)})
	var he *signalserver.HubError
	require.ErrorAs(t, err, &he)
	require.Contains(t, err.Error(), "connect to redis")
}
