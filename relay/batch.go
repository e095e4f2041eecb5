package relay

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Batch sizes: how many datagrams one recvmmsg may return on a listening
// socket, and on a busy relayed socket (each allocation has one, so its
// buffers are kept small and only made once it carries traffic).
const (
	batchSize      = 32
	relayBatchSize = 8
	// relayBatchAfter is how many packets a relayed socket reads one by
	// one before it switches to batched reads.
	relayBatchAfter = 64
)

// batchReader reads datagrams from a real UDP socket several at a time
// (recvmmsg on Linux) and hands them out one by one: under load one system
// call serves many packets. It is used by one reader goroutine only.
type batchReader struct {
	read func([]ipv4.Message, int) (int, error)
	msgs []ipv4.Message
	n, i int
}

// newBatchReader returns nil when pc is not a real UDP socket (vnet).
func newBatchReader(pc net.PacketConn, size int) *batchReader {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	r := &batchReader{msgs: make([]ipv4.Message, size)}
	for i := range r.msgs {
		// One byte more than the relay accepts, to see oversized ones.
		r.msgs[i].Buffers = [][]byte{make([]byte, inboundMTU+1)}
	}
	if la, ok := uc.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
		r.read = ipv6.NewPacketConn(uc).ReadBatch
	} else {
		r.read = ipv4.NewPacketConn(uc).ReadBatch
	}
	return r
}

// ReadFrom returns the next datagram; a datagram larger than p is cut to
// len(p) bytes and returns n == len(p), as a plain UDP read would.
func (r *batchReader) ReadFrom(p []byte) (int, net.Addr, error) {
	if r.i >= r.n {
		n, err := r.read(r.msgs, 0)
		if err != nil {
			return 0, nil, err
		}
		r.n, r.i = n, 0
	}
	m := &r.msgs[r.i]
	r.i++
	n := copy(p, m.Buffers[0][:m.N])
	return n, m.Addr, nil
}
