package call

import (
	"errors"
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/stdnet"
	"github.com/pion/webrtc/v4"
)

// iceTCP is a peer's ICE-TCP (RFC 6544) state: the listener its passive
// candidates accept on, and pion's mux over it.
type iceTCP struct {
	listener transport.TCPListener
	mux      *ice.TCPMuxDefault
	// active: the peer also opens active connections toward the remote's
	// passive candidates.
	active bool
}

// setupICETCP adds ICE-TCP to se: passive host candidates on a TCP
// listener from n (one port for every address, as browsers do), and
// active ones when n is the process's own network. pion ice v4.1.0 dials
// active ICE-TCP with Go's net.Dialer, not with the agent's Net, so on any
// other Net (a lab namespace, vnet) the dial would leave that network.
func setupICETCP(se *webrtc.SettingEngine, n transport.Net, port int, ownNet, has4, has6 bool, f logging.LoggerFactory) (*iceTCP, error) {
	network := "tcp4"
	switch {
	case has4 && has6:
		network = "tcp"
	case has6:
		network = "tcp6"
	}
	l, err := n.ListenTCP(network, &net.TCPAddr{Port: port})
	if errors.Is(err, transport.ErrNotSupported) {
		return nil, fmt.Errorf("ICE-TCP: this network has no TCP (pion's vnet does not; use the kernel lab): %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("ICE-TCP listener: %w", err)
	}
	mux := ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: l, Logger: f.NewLogger("ice-tcp"), ReadBufferSize: 64})
	se.SetICETCPMux(mux)
	se.DisableActiveTCP(!ownNet)
	return &iceTCP{listener: l, mux: mux, active: ownNet}, nil
}

func (t *iceTCP) close() {
	if t == nil {
		return
	}
	_ = t.mux.Close()
	_ = t.listener.Close()
}

// isOwnNet reports whether n is the process's own network, where pion's
// active ICE-TCP dials go.
func isOwnNet(n transport.Net) bool {
	_, ok := n.(*stdnet.Net)
	return ok
}

// overICETCP names a direct pair carried by ICE-TCP and which side
// dialled: UDP is what a reader assumes.
func (p Path) overICETCP() string {
	if p.Pair == nil || p.Pair.Local.Protocol != "tcp" || !p.Direct() {
		return ""
	}
	if p.Pair.Local.TCPType == "passive" {
		return " over ICE-TCP (the other peer dialled this one's passive candidate)"
	}
	return " over ICE-TCP (this peer dialled the other's passive candidate)"
}
