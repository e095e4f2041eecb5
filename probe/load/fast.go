package load

import (
	"context"
	"time"
)

// Data paths, as Result.DataPath names them.
const (
	// DataPathBatched is the Linux fast path: epoll, recvmmsg and kernel
	// receive timestamps (SO_TIMESTAMPNS).
	DataPathBatched = "batched"
	// DataPathPerSession is one reader goroutine per session, woken by
	// Go's netpoller for every packet and timestamped on wake (TCP, vnet,
	// other platforms).
	DataPathPerSession = "per-session"
)

// fastTick is how often the fast path wakes while traffic flows: it sends
// every packet that has come due and reads every echo queued since the
// last wake. Echoes carry the kernel's receive timestamp, so the wait does
// not inflate the RTT; sends may leave up to one tick behind their
// schedule, which bench.send_lag and relay.rtt_from_schedule show.
var fastTick = time.Millisecond

// fastPath is the batched data path for UDP on the real network: a few
// OS threads (one per shard) each own an epoll set of allocation sockets,
// read them with recvmmsg and drive their share of the send schedule, in
// place of a reader goroutine per session woken once per packet.
type fastPath interface {
	// dial opens s's socket to the server and starts reading it.
	dial(s *session) error
	// remove stops reading s's socket before it is closed.
	remove(s *session)
	// sendAll drives the send schedule of active until the traffic
	// duration is over or ctx is done.
	sendAll(ctx context.Context, active []*session)
	// close stops the threads once every session is closed.
	close()
	// path names the send call in use (Result.SendPath).
	path() string
}
