// Command signalbench is the load generator behind bench/signal.sh: many
// loopback clients against one natkit signal server. It prints one JSON
// object with its figures on stdout.
//
//	signalbench -url ws://127.0.0.1:8080/ws -mode idle -n 10000 -hold 10s -pid 1234
//	signalbench -url … -mode throughput -rooms 1000 -window 16 -duration 10s
//	signalbench -url … -mode latency -rooms 1000 -rate 20000 -duration 10s
//	signalbench -url … -mode setup -workers 50 -duration 10s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/coder/websocket"

	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

type options struct {
	url      string
	mode     string
	n        int
	rooms    int
	window   int
	rate     float64
	workers  int
	duration time.Duration
	hold     time.Duration
	pid      int
	prefix   string
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "ws://127.0.0.1:8080/ws", "signal server WebSocket URL")
	flag.StringVar(&o.mode, "mode", "throughput", "idle, throughput, latency or setup")
	flag.IntVar(&o.n, "n", 1000, "idle: connections to open")
	flag.IntVar(&o.rooms, "rooms", 1000, "throughput/latency: rooms of 2 peers")
	flag.IntVar(&o.window, "window", 16, "throughput: messages in flight per room")
	flag.Float64Var(&o.rate, "rate", 20000, "latency: total messages per second")
	flag.IntVar(&o.workers, "workers", 50, "setup: concurrent call set-ups")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measurement time")
	flag.DurationVar(&o.hold, "hold", 5*time.Second, "idle: how long to hold the connections open before measuring")
	flag.IntVar(&o.pid, "pid", 0, "idle: server process id, to read its RSS")
	flag.StringVar(&o.prefix, "prefix", "b", "room name prefix (to run several generators at once)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var res any
	var err error
	switch o.mode {
	case "idle":
		res, err = idle(ctx, o)
	case "throughput":
		res, err = throughput(ctx, o)
	case "latency":
		res, err = latency(ctx, o)
	case "setup":
		res, err = setup(ctx, o)
	default:
		err = fmt.Errorf("-mode %q: want idle, throughput, latency or setup", o.mode)
	}
	if m, ok := res.(map[string]any); ok {
		m["generator_cpu_seconds"] = cpuSeconds()
	}
	enc := json.NewEncoder(os.Stdout)
	if err != nil {
		_ = enc.Encode(map[string]string{"mode": o.mode, "error": err.Error()})
		os.Exit(1)
	}
	_ = enc.Encode(res)
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func rssKiB(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return -1
}

// idle opens n connections, each joined to a room of 2, and holds them.
func idle(ctx context.Context, o options) (any, error) {
	before := rssKiB(o.pid)
	start := time.Now()
	conns := make([]*websocket.Conn, 0, o.n)
	defer func() {
		for _, c := range conns {
			_ = c.CloseNow()
		}
	}()
	var failed int
	var firstErr error
	for i := 0; i < o.n && ctx.Err() == nil; i++ {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, _, err := websocket.Dial(dctx, o.url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
		if err == nil {
			join := protocol.Encode(protocol.Message{Type: protocol.TypeJoin, Room: fmt.Sprintf("%s-idle-%d", o.prefix, i/2)})
			err = c.Write(dctx, websocket.MessageText, join)
			if err == nil {
				_, _, err = c.Read(dctx) // joined
			}
		}
		cancel()
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			if c != nil {
				_ = c.CloseNow()
			}
			if failed > 50 {
				break
			}
			continue
		}
		conns = append(conns, c)
	}
	opened := time.Since(start)
	select {
	case <-ctx.Done():
	case <-time.After(o.hold):
	}
	after := rssKiB(o.pid)
	out := map[string]any{"mode": "idle", "connections": len(conns), "failed": failed, "open_seconds": opened.Seconds(),
		"server_rss_before_kib": before, "server_rss_after_kib": after}
	if len(conns) > 0 && before > 0 {
		out["server_kib_per_connection"] = float64(after-before) / float64(len(conns))
		out["server_kib_per_connection_total"] = float64(after) / float64(len(conns))
	}
	if firstErr != nil {
		out["first_error"] = firstErr.Error()
	}
	return out, nil
}

type pair struct{ a, b *client.Client }

func openPairs(ctx context.Context, o options, n int) ([]pair, error) {
	pairs := make([]pair, 0, n)
	for i := range n {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		a, err := client.Dial(dctx, o.url, nil)
		if err != nil {
			cancel()
			closePairs(pairs)
			return nil, fmt.Errorf("room %d: dial: %w", i, err)
		}
		b, err := client.Dial(dctx, o.url, nil)
		if err != nil {
			cancel()
			a.Abort()
			closePairs(pairs)
			return nil, fmt.Errorf("room %d: dial: %w", i, err)
		}
		room := fmt.Sprintf("%s-%s-%d", o.prefix, o.mode, i)
		_, err1 := a.Join(dctx, room, client.JoinOptions{Peer: "a"})
		_, err2 := b.Join(dctx, room, client.JoinOptions{Peer: "b"})
		if err := errors.Join(err1, err2); err != nil {
			cancel()
			a.Abort()
			b.Abort()
			closePairs(pairs)
			return nil, fmt.Errorf("room %d: %w", i, err)
		}
		if _, err := a.RecvType(dctx, protocol.TypePeerJoined); err != nil {
			cancel()
			closePairs(pairs)
			return nil, fmt.Errorf("room %d: peer-joined: %w", i, err)
		}
		cancel()
		pairs = append(pairs, pair{a, b})
	}
	return pairs, nil
}

func closePairs(ps []pair) {
	for _, p := range ps {
		p.a.Abort()
		p.b.Abort()
	}
}

// throughput: closed loop, window messages circulating in each room; a
// peer answers every message it receives. Counts deliveries per second.
func throughput(ctx context.Context, o options) (any, error) {
	pairs, err := openRawPairs(ctx, o)
	if err != nil {
		return nil, err
	}
	defer closeRaw(pairs)
	var delivered, errs atomic.Int64
	var counting atomic.Bool
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Raw frames: the generator neither decodes nor encodes JSON in the
	// loop, so that its CPU goes to the sockets and the server gets the
	// rest of the machine.
	msg := protocol.Encode(protocol.Message{Type: protocol.TypeCandidate, Candidate: &protocol.Candidate{Candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"}})
	errPrefix := []byte(`{"type":"error"`)
	bounce := func(me *websocket.Conn) {
		defer wg.Done()
		for {
			_, data, err := me.Read(rctx)
			if err != nil {
				return
			}
			if len(data) >= len(errPrefix) && string(data[:len(errPrefix)]) == string(errPrefix) {
				errs.Add(1)
				continue
			}
			if counting.Load() {
				delivered.Add(1)
			}
			if err := me.Write(rctx, websocket.MessageText, msg); err != nil {
				return
			}
		}
	}
	for _, p := range pairs {
		wg.Add(2)
		go bounce(p[0])
		go bounce(p[1])
		for range o.window {
			if err := p[0].Write(ctx, websocket.MessageText, msg); err != nil {
				cancel()
				wg.Wait()
				return nil, err
			}
		}
	}
	time.Sleep(time.Second) // warm up
	counting.Store(true)
	start := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(o.duration):
	}
	n := delivered.Load()
	el := time.Since(start)
	counting.Store(false)
	cancel()
	closeRaw(pairs)
	wg.Wait()
	return map[string]any{"mode": "throughput", "rooms": o.rooms, "window": o.window, "seconds": el.Seconds(),
		"messages": n, "messages_per_second": float64(n) / el.Seconds(), "error_frames": errs.Load()}, nil
}

// openRawPairs opens o.rooms rooms of two raw WebSocket connections, both
// joined, the first having seen the second join.
func openRawPairs(ctx context.Context, o options) ([][2]*websocket.Conn, error) {
	var pairs [][2]*websocket.Conn
	readType := func(c *websocket.Conn, ctx context.Context, typ string) error {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return err
			}
			var m protocol.Message
			if err := json.Unmarshal(data, &m); err != nil {
				return err
			}
			if m.Type == typ {
				return nil
			}
			if m.Type == protocol.TypeError {
				return m.Err()
			}
		}
	}
	for i := range o.rooms {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var p [2]*websocket.Conn
		room := fmt.Sprintf("%s-%s-%d", o.prefix, o.mode, i)
		var err error
		for j := range 2 {
			p[j], _, err = websocket.Dial(dctx, o.url, nil)
			if err != nil {
				break
			}
			if err = p[j].Write(dctx, websocket.MessageText, protocol.Encode(protocol.Message{Type: protocol.TypeJoin, Room: room})); err != nil {
				break
			}
			if err = readType(p[j], dctx, protocol.TypeJoined); err != nil {
				break
			}
		}
		if err == nil {
			err = readType(p[0], dctx, protocol.TypePeerJoined)
		}
		cancel()
		if err != nil {
			for _, c := range p {
				if c != nil {
					_ = c.CloseNow()
				}
			}
			closeRaw(pairs)
			return nil, fmt.Errorf("room %d: %w", i, err)
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

func closeRaw(pairs [][2]*websocket.Conn) {
	for _, p := range pairs {
		_ = p[0].CloseNow()
		_ = p[1].CloseNow()
	}
}

// latency: open loop at a fixed total rate; each message carries its send
// time; receivers record the one-way latency through the server.
func latency(ctx context.Context, o options) (any, error) {
	pairs, err := openPairs(ctx, o, o.rooms)
	if err != nil {
		return nil, err
	}
	defer closePairs(pairs)
	hist := hdrhistogram.New(1, 10_000_000, 3) // µs
	var mu sync.Mutex
	var received, errs atomic.Int64
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	recv := func(me *client.Client) {
		defer wg.Done()
		for {
			m, err := me.Recv(rctx)
			if err != nil {
				return
			}
			if m.Type == protocol.TypeError {
				errs.Add(1)
				continue
			}
			ts, err := strconv.ParseInt(m.SDP, 10, 64)
			if err != nil {
				continue
			}
			us := time.Since(time.Unix(0, ts)).Microseconds()
			mu.Lock()
			_ = hist.RecordValue(max(us, 1))
			mu.Unlock()
			received.Add(1)
		}
	}
	senders := make([]*client.Client, 0, 2*len(pairs))
	for _, p := range pairs {
		wg.Add(2)
		go recv(p.a)
		go recv(p.b)
		senders = append(senders, p.a, p.b)
	}
	// Each sender ticks on its own, the starts spread over one interval, so
	// that the load is even rather than in bursts.
	perSender := o.rate / float64(len(senders))
	interval := time.Duration(float64(time.Second) / perSender)
	var sent atomic.Int64
	start := time.Now()
	deadline := start.Add(o.duration)
	for i, snd := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-rctx.Done():
				return
			case <-time.After(time.Duration(i) * interval / time.Duration(len(senders))):
			}
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-rctx.Done():
					return
				case now := <-t.C:
					if now.After(deadline) {
						return
					}
					_ = snd.Send(rctx, protocol.Message{Type: protocol.TypeOffer, SDP: strconv.FormatInt(time.Now().UnixNano(), 10)})
					sent.Add(1)
				}
			}
		}()
	}
	select {
	case <-ctx.Done():
	case <-time.After(o.duration + 2*time.Second):
	}
	cancel()
	closePairs(pairs)
	wg.Wait()
	el := o.duration.Seconds()
	return map[string]any{"mode": "latency", "rooms": o.rooms, "target_rate": o.rate, "sent": sent.Load(), "received": received.Load(),
		"achieved_rate": float64(received.Load()) / el, "error_frames": errs.Load(),
		"p50_ms": float64(hist.ValueAtQuantile(50)) / 1000, "p90_ms": float64(hist.ValueAtQuantile(90)) / 1000,
		"p99_ms": float64(hist.ValueAtQuantile(99)) / 1000, "max_ms": float64(hist.Max()) / 1000}, nil
}

// setup: workers repeat full call set-ups: two peers dial and join, offer,
// answer, 10 candidates each way, bye.
func setup(ctx context.Context, o options) (any, error) {
	var done, failed atomic.Int64
	var firstErr atomic.Value
	rctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	hist := hdrhistogram.New(1, 60_000_000, 3)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; rctx.Err() == nil; i++ {
				t0 := time.Now()
				err := oneSetup(rctx, o.url, fmt.Sprintf("%s-setup-%d-%d", o.prefix, w, i))
				if rctx.Err() != nil {
					return
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mu.Lock()
				_ = hist.RecordValue(time.Since(t0).Microseconds())
				mu.Unlock()
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	out := map[string]any{"mode": "setup", "workers": o.workers, "seconds": el.Seconds(), "setups": done.Load(), "failed": failed.Load(),
		"setups_per_second": float64(done.Load()) / el.Seconds(),
		"p50_ms":            float64(hist.ValueAtQuantile(50)) / 1000, "p99_ms": float64(hist.ValueAtQuantile(99)) / 1000}
	if e := firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	return out, nil
}

func oneSetup(ctx context.Context, url, room string) error {
	a, err := client.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer a.Abort()
	b, err := client.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer b.Abort()
	if _, err := a.Join(ctx, room, client.JoinOptions{Peer: "caller"}); err != nil {
		return err
	}
	if _, err := b.Join(ctx, room, client.JoinOptions{Peer: "callee"}); err != nil {
		return err
	}
	if err := a.SendOffer(ctx, "callee", "v=0 offer"); err != nil {
		return err
	}
	if _, err := b.RecvType(ctx, protocol.TypeOffer); err != nil {
		return err
	}
	if err := b.SendAnswer(ctx, "caller", "v=0 answer"); err != nil {
		return err
	}
	cand := protocol.Candidate{Candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"}
	for range 10 {
		if err := a.SendCandidate(ctx, "callee", cand); err != nil {
			return err
		}
		if err := b.SendCandidate(ctx, "caller", cand); err != nil {
			return err
		}
	}
	if _, err := a.RecvType(ctx, protocol.TypeAnswer); err != nil {
		return err
	}
	for range 10 {
		if _, err := a.RecvType(ctx, protocol.TypeCandidate); err != nil {
			return err
		}
		if _, err := b.RecvType(ctx, protocol.TypeCandidate); err != nil {
			return err
		}
	}
	if err := a.Bye(ctx, ""); err != nil {
		return err
	}
	_, err = b.RecvType(ctx, protocol.TypePeerLeft)
	return err
}
