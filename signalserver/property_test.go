package signalserver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

// TestPropertyNoMessageLeavesItsRoom sends random traffic between many
// peers in many rooms — targeted at same-room peers, at peers of other
// rooms, and untargeted — and checks that every relayed message arrives
// only in its room, and that every targeted same-room message arrives
// exactly once.
func TestPropertyNoMessageLeavesItsRoom(t *testing.T) {
	for _, hk := range hubKinds() {
		t.Run(hk.name, func(t *testing.T) {
			seed := time.Now().UnixNano()
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			const rooms, perRoom, msgsPerPeer = 12, 3, 25
			c := hk.instances(t, 2, signalserver.Config{RoomCapacity: perRoom, QueueTTL: 300 * time.Millisecond, RatePerSecond: 1e4, RateBurst: 1e4})
			ctx := ctxT(t)
			type peer struct {
				id, room string
				cl       *client.Client
			}
			var peers []peer
			for r := range rooms {
				for p := range perRoom {
					cl := c.dial(len(peers))
					id := fmt.Sprintf("p%d-%d", r, p)
					room := fmt.Sprintf("room%d", r)
					_, err := cl.Join(ctx, room, client.JoinOptions{Peer: id})
					require.NoError(t, err)
					peers = append(peers, peer{id: id, room: room, cl: cl})
				}
			}
			roomOf := map[string]string{}
			for _, p := range peers {
				roomOf[p.id] = p.room
			}
			// expected[to] counts targeted same-room messages.
			expected := map[string]int{}
			for _, p := range peers {
				for i := range msgsPerPeer {
					to := ""
					if rng.IntN(4) > 0 {
						to = peers[rng.IntN(len(peers))].id
						if to == p.id {
							to = ""
						}
					}
					if to != "" && roomOf[to] == p.room {
						expected[to]++
					}
					sdp := fmt.Sprintf("%s|%s|%d", p.room, p.id, i)
					require.NoError(t, p.cl.Send(ctx, protocol.Message{Type: protocol.TypeOffer, To: to, SDP: sdp}))
				}
			}
			var mu sync.Mutex
			targeted := map[string]int{}
			var wg sync.WaitGroup
			for _, p := range peers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						rctx, cancel := context.WithTimeout(ctx, time.Second)
						m, err := p.cl.Recv(rctx)
						cancel()
						if err != nil {
							return
						}
						if m.Type != protocol.TypeOffer {
							continue
						}
						parts := strings.Split(m.SDP, "|")
						if parts[0] != p.room || roomOf[m.From] != p.room || parts[1] != m.From {
							t.Errorf("peer %s in %s got %q from %s", p.id, p.room, m.SDP, m.From)
						}
						mu.Lock()
						if strings.HasPrefix(m.SDP, p.room) {
							targeted[p.id]++
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			for id, n := range expected {
				// Untargeted messages also arrive; targeted ones must all.
				require.GreaterOrEqual(t, targeted[id], n, "peer %s", id)
			}
		})
	}
}
