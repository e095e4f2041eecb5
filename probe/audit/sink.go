package audit

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"time"
)

// sinkListener is natkit's own UDP listener on the audit host: the only
// peer the audit ever relays data to.
type sinkListener struct {
	pc net.PacketConn
}

// openSink listens on Config.Sink; without one (a remote server and no
// --sink) the peer checks run without data-path proof.
func (a *auditor) openSink() (*sinkListener, netip.AddrPort) {
	if a.cfg.Sink == "" {
		return nil, netip.AddrPort{}
	}
	pc, err := a.cfg.Net.ListenPacket("udp", a.cfg.Sink)
	if err != nil {
		a.cfg.Logger.Warn("audit: cannot open the sink; permissions are tested without data", "sink", a.cfg.Sink, "err", err)
		return nil, netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return nil, netip.AddrPort{}
	}
	return &sinkListener{pc: pc}, ap
}

func (s *sinkListener) Close() error { return s.pc.Close() }

// await waits up to d for payload and returns the address it came from.
func (s *sinkListener) await(ctx context.Context, payload []byte, d time.Duration) (string, bool) {
	deadline := time.Now().Add(d)
	buf := make([]byte, 2048)
	for ctx.Err() == nil {
		if err := s.pc.SetReadDeadline(deadline); err != nil {
			return "", false
		}
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return "", false
		}
		if bytes.Equal(buf[:n], payload) {
			return from.String(), true
		}
	}
	return "", false
}
