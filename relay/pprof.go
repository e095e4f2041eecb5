package relay

import (
	"net"

	"github.com/natkit/natkit/internal/pprofhttp"
)

// startPprof serves /debug/pprof/ on Config.PprofAddr, apart from the TURN
// listeners and from Handler's /metrics, so that profiles are only ever
// exposed where the operator asked for them.
func (s *Server) startPprof() error {
	if s.cfg.PprofAddr == "" {
		return nil
	}
	ps, err := pprofhttp.Start(s.cfg.Net, s.cfg.PprofAddr, s.log, "relay")
	if err != nil {
		return &ListenError{Network: "pprof", Addr: s.cfg.PprofAddr, Err: err}
	}
	s.pprof = ps
	return nil
}

// PprofAddr is the address /debug/pprof/ is served on, or nil when
// Config.PprofAddr is empty.
func (s *Server) PprofAddr() net.Addr { return s.pprof.Addr() }
