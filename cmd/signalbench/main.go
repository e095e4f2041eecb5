// Command signalbench is the load generator behind bench/signal.sh: many
// loopback clients against one natkit signal server. It prints one JSON
// object with its figures on stdout.
//
//	signalbench -url ws://127.0.0.1:8080/ws -mode idle -n 10000 -hold 10s -pid 1234
//	signalbench -url … -mode throughput -rooms 1000 -window 16 -duration 10s
//	signalbench -url … -mode latency -rooms 1000 -rate 20000 -duration 10s
//	signalbench -url … -mode setup -workers 50 -duration 10s
//	signalbench -url ws://127.0.0.1:8081/ws,ws://127.0.0.1:8082/ws -mode throughput …
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
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
	// urls: -url may list several instances sharing a Redis hub,
	// comma-separated; each peer of a throughput or latency room dials one
	// at random (the other modes use the first).
	urls []string
}

// peerURL picks the instance for one peer of a room.
func (o options) peerURL(rng *rand.Rand) string { return o.urls[rng.IntN(len(o.urls))] }

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
	flag.IntVar(&o.pid, "pid", 0, "server process id: idle reads its RSS, throughput and latency its CPU time over the measurement")
	flag.StringVar(&o.prefix, "prefix", "b", "room name prefix (to run several generators at once)")
	cpuPids := flag.String("cpu-pids", "", "throughput, latency: more process ids, comma-separated (other instances, redis-server), whose CPU time over the measurement is summed as cpu_pids_seconds_measured")
	flag.Parse()
	o.urls = strings.Split(o.url, ",")
	for _, f := range strings.FieldsFunc(*cpuPids, func(r rune) bool { return r == ',' }) {
		p, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "signalbench: -cpu-pids %q: %q is not a process id\n", *cpuPids, f)
			os.Exit(2)
		}
		morePids = append(morePids, p)
	}
	o.url = o.urls[0]
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

// procCPUSeconds is process pid's user+system CPU time (-1 if unknown).
func procCPUSeconds(pid int) float64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces: count from after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return float64(ut+st) / clockTicks
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// window measures CPU time of this process and of the server (-pid) over
// the measurement, excluding connection set-up and warm-up.
type window struct{ gen, srv, more float64 }

// morePids (-cpu-pids) are further server processes, e.g. a second
// instance and redis-server, measured like -pid.
var morePids []int

func moreCPUSeconds() float64 {
	var t float64
	for _, p := range morePids {
		t += max(procCPUSeconds(p), 0)
	}
	return t
}

func startWindow(pid int) window { return window{cpuSeconds(), procCPUSeconds(pid), moreCPUSeconds()} }

func (w window) add(out map[string]any, pid int) {
	out["generator_cpu_seconds_measured"] = cpuSeconds() - w.gen
	if len(morePids) > 0 {
		out["cpu_pids_seconds_measured"] = moreCPUSeconds() - w.more
	}
	if w.srv >= 0 {
		if now := procCPUSeconds(pid); now >= 0 {
			out["server_cpu_seconds_measured"] = now - w.srv
		}
	}
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

// idle opens n connections, each joined to a room of 2, and holds them,
// answering the server's pings.
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
		c, resp, err := websocket.Dial(dctx, o.url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
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
		// A client that never reads answers no ping, and both servers
		// drop it within a minute (Node's heartbeat after 40 s): read
		// and discard in the background, as a real idle client does.
		go func() {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
			}
		}()
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

// throughput: closed loop, window messages circulating in each room; a
// peer answers every message it receives. Counts deliveries per second.
// Each connection has one goroutine; the answers to all frames of one
// read go out in one write.
func throughput(ctx context.Context, o options) (any, error) {
	pairs, err := openRawPairs(ctx, o)
	if err != nil {
		return nil, err
	}
	defer closeRaw(pairs)
	var delivered, errs atomic.Int64
	var counting atomic.Bool
	var wg sync.WaitGroup
	// Pre-encoded frames: the generator neither decodes nor encodes JSON
	// in the loop.
	msg := frame(opText, protocol.Encode(protocol.Message{Type: protocol.TypeCandidate, Candidate: &protocol.Candidate{Candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"}}))
	burst := bytes.Repeat(msg, max(o.window, 1))
	errPrefix := []byte(`{"type":"error"`)
	bounce := func(me *rawConn) {
		defer wg.Done()
		var local int64
		_ = me.eachFrame(func(p []byte) {
			if bytes.HasPrefix(p, errPrefix) {
				errs.Add(1)
				return
			}
			local++
		}, func(k int) error {
			if counting.Load() {
				delivered.Add(local)
			}
			local = 0
			for k > 0 {
				n := min(k, o.window)
				if err := me.write(burst[:n*len(msg)]); err != nil {
					return err
				}
				k -= n
			}
			return nil
		})
	}
	for _, p := range pairs {
		wg.Add(2)
		go bounce(p[0])
		go bounce(p[1])
		if err := p[0].write(burst[:o.window*len(msg)]); err != nil {
			closeRaw(pairs)
			wg.Wait()
			return nil, err
		}
	}
	time.Sleep(time.Second) // warm up
	counting.Store(true)
	start := time.Now()
	win := startWindow(o.pid)
	select {
	case <-ctx.Done():
	case <-time.After(o.duration):
	}
	n := delivered.Load()
	el := time.Since(start)
	out := map[string]any{"mode": "throughput", "rooms": o.rooms, "window": o.window, "seconds": el.Seconds(),
		"messages": n, "messages_per_second": float64(n) / el.Seconds()}
	win.add(out, o.pid)
	counting.Store(false)
	closeRaw(pairs)
	wg.Wait()
	out["error_frames"] = errs.Load()
	return out, nil
}

// openRawPairs opens o.rooms rooms of two raw WebSocket connections, both
// joined, the first having seen the second join.
func openRawPairs(ctx context.Context, o options) ([][2]*rawConn, error) {
	var pairs [][2]*rawConn
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // places benchmark peers; the same placement every run
	readType := func(c *rawConn, typ string) error {
		for {
			data, err := c.readText()
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
		dl, _ := dctx.Deadline()
		var p [2]*rawConn
		room := fmt.Sprintf("%s-%s-%d", o.prefix, o.mode, i)
		var err error
		for j := range 2 {
			p[j], err = dialRaw(dctx, o.peerURL(rng))
			if err != nil {
				break
			}
			_ = p[j].nc.SetDeadline(dl)
			if err = p[j].write(frame(opText, protocol.Encode(protocol.Message{Type: protocol.TypeJoin, Room: room, Peer: string(rune('a' + j))}))); err != nil {
				break
			}
			if err = readType(p[j], protocol.TypeJoined); err != nil {
				break
			}
		}
		if err == nil {
			err = readType(p[0], protocol.TypePeerJoined)
		}
		cancel()
		for _, c := range p {
			if c != nil {
				_ = c.nc.SetDeadline(time.Time{})
			}
		}
		if err != nil {
			for _, c := range p {
				if c != nil {
					c.close()
				}
			}
			closeRaw(pairs)
			return nil, fmt.Errorf("room %d: %w", i, err)
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

func closeRaw(pairs [][2]*rawConn) {
	for _, p := range pairs {
		p[0].close()
		p[1].close()
	}
}

// latency: open loop at a fixed total rate; each message carries its send
// time; receivers record the one-way latency through the server. One
// pacing goroutine sends, round robin over all peers, as many messages
// as the rate allows each tick (1 ms); every connection has one reader.
func latency(ctx context.Context, o options) (any, error) {
	pairs, err := openRawPairs(ctx, o)
	if err != nil {
		return nil, err
	}
	defer closeRaw(pairs)
	hist := hdrhistogram.New(1, 10_000_000, 3) // µs
	var mu sync.Mutex
	var received, errs atomic.Int64
	var wg sync.WaitGroup
	errPrefix := []byte(`{"type":"error"`)
	sdpKey := []byte(`"sdp":"`)
	recv := func(me *rawConn) {
		defer wg.Done()
		_ = me.eachFrame(func(p []byte) {
			now := time.Now().UnixNano()
			if bytes.HasPrefix(p, errPrefix) {
				errs.Add(1)
				return
			}
			i := bytes.Index(p, sdpKey)
			if i < 0 {
				return
			}
			p = p[i+len(sdpKey):]
			var ts int64
			for _, d := range p {
				if d < '0' || d > '9' {
					break
				}
				ts = ts*10 + int64(d-'0')
			}
			us := (now - ts) / 1000
			mu.Lock()
			_ = hist.RecordValue(max(us, 1))
			mu.Unlock()
			received.Add(1)
		}, nil)
	}
	// The offer's SDP is the send time in nanoseconds, 19 digits, patched
	// into a pre-encoded frame.
	tmpl := frame(opText, protocol.Encode(protocol.Message{Type: protocol.TypeOffer, SDP: "0000000000000000000"}))
	at := bytes.Index(tmpl, []byte("0000000000000000000"))
	senders := make([]*rawConn, 0, 2*len(pairs))
	for _, p := range pairs {
		wg.Add(2)
		go recv(p[0])
		go recv(p[1])
		senders = append(senders, p[0], p[1])
	}
	var sent int64
	start := time.Now()
	win := startWindow(o.pid)
	deadline := start.Add(o.duration)
	t := time.NewTicker(time.Millisecond)
	buf := bytes.Clone(tmpl)
	next := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-t.C:
			if now.After(deadline) {
				break loop
			}
			due := int64(o.rate*now.Sub(start).Seconds()) - sent
			for ; due > 0; due-- {
				ts := time.Now().UnixNano()
				for i := at + 18; i >= at; i-- {
					buf[i] = byte('0' + ts%10)
					ts /= 10
				}
				_ = senders[next].write(buf)
				next = (next + 1) % len(senders)
				sent++
			}
		}
	}
	t.Stop()
	out := map[string]any{}
	win.add(out, o.pid)
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second): // let the last messages arrive
	}
	closeRaw(pairs)
	wg.Wait()
	el := o.duration.Seconds()
	mu.Lock()
	defer mu.Unlock()
	for k, v := range map[string]any{"mode": "latency", "rooms": o.rooms, "target_rate": o.rate, "sent": sent, "received": received.Load(),
		"achieved_rate": float64(received.Load()) / el, "error_frames": errs.Load(),
		"p50_ms": float64(hist.ValueAtQuantile(50)) / 1000, "p90_ms": float64(hist.ValueAtQuantile(90)) / 1000,
		"p99_ms": float64(hist.ValueAtQuantile(99)) / 1000, "max_ms": float64(hist.Max()) / 1000} {
		out[k] = v
	}
	return out, nil
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
