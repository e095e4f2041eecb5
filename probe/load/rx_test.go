package load

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/reports"
)

func testEngine() *engine {
	e := &engine{
		rtt: reports.NewLatencyRecorder("rtt"), rttSched: reports.NewLatencyRecorder("rtt_sched"),
		buckets: 4, t0: time.Now().Add(-time.Hour),
	}
	e.sentBySec = make([]atomic.Int64, 4)
	e.recvBySec = make([]atomic.Int64, 4)
	e.cfg.Size = MinSize
	return e
}

func payload(id uint32, seq int64, sched, actual time.Duration) []byte {
	p := make([]byte, MinSize)
	binary.BigEndian.PutUint32(p, magic)
	binary.BigEndian.PutUint32(p[offID:], id)
	binary.BigEndian.PutUint64(p[offSeq:], uint64(seq))
	binary.BigEndian.PutUint64(p[offSched:], uint64(sched))
	binary.BigEndian.PutUint64(p[offActual:], uint64(actual))
	return p
}

// TestReceiveAccounting feeds echoes in a chosen order and checks the
// counts of unique, duplicate and reordered packets.
func TestReceiveAccounting(t *testing.T) {
	tests := []struct {
		name                      string
		seqs                      []int64
		received, dups, reordered int64
		foreign                   int64
	}{
		{"in order", []int64{0, 1, 2, 3}, 4, 0, 0, 0},
		{"one duplicate", []int64{0, 1, 1, 2}, 3, 1, 0, 0},
		{"swapped pair", []int64{0, 2, 1, 3}, 4, 0, 1, 0},
		{"late straggler and its duplicate", []int64{1, 2, 3, 0, 0}, 4, 1, 1, 0},
		{"sparse beyond the first word", []int64{0, 200, 100}, 3, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEngine()
			s := &session{id: 7, eng: e}
			s.rx.maxSeq = -1
			for _, seq := range tt.seqs {
				s.onData(payload(7, seq, time.Second, time.Second), e.now())
			}
			require.Equal(t, tt.received, s.rx.received)
			require.Equal(t, tt.dups, s.rx.dups)
			require.Equal(t, tt.reordered, s.rx.reordered)
			require.EqualValues(t, tt.received, e.received.Load())
			require.EqualValues(t, tt.received, e.rtt.Count())
		})
	}
}

func TestReceiveRejectsForeignPayloads(t *testing.T) {
	e := testEngine()
	s := &session{id: 7, eng: e}
	s.rx.maxSeq = -1
	short := payload(7, 0, 0, 0)[:MinSize-1]
	badMagic := payload(7, 0, 0, 0)
	badMagic[0] ^= 0xff
	future := payload(7, 0, 2*time.Hour, 2*time.Hour) // sent after now: forged
	other := payload(8, 0, 0, 0)                      // another session's, and no echo path
	for _, p := range [][]byte{short, badMagic, future, other} {
		s.onData(p, e.now())
	}
	require.EqualValues(t, 4, e.foreign.Load())
	require.EqualValues(t, 0, s.rx.received)
}

// TestJitterRFC3550 checks the interarrival jitter estimator: constant
// transit gives 0; alternating transit converges towards the difference.
func TestJitterRFC3550(t *testing.T) {
	e := testEngine()
	s := &session{id: 1, eng: e}
	s.rx.maxSeq = -1
	now := e.now()
	// Transit = now - actual: alternate 10 ms and 20 ms.
	for i := range 200 {
		transit := 10 * time.Millisecond
		if i%2 == 1 {
			transit = 20 * time.Millisecond
		}
		s.onData(payload(1, int64(i), now-transit, now-transit), now)
	}
	// |D| is ~10 ms every step, so J converges to ~10 ms (elapsed time
	// between calls adds a little noise).
	require.InDelta(t, float64(10*time.Millisecond), s.rx.jitter, float64(time.Millisecond))
}
