// Package sidehttp serves the HTTP endpoints that sit beside a server's
// service port, each on a listener of its own: Prometheus /metrics and
// /healthz (relay.Config.MetricsAddr, signalserver.Config.MetricsAddr) and
// net/http/pprof (the PprofAddr fields). The profiles expose the process's
// internals (goroutine stacks, heap contents' call sites, command line), so
// they never share the service's port.
package sidehttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/pion/transport/v3"
)

// CheckAddr accepts HOST:PORT where HOST is an IP literal or "localhost".
// An empty host is refused: it would listen on every interface without
// the user having named one.
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want HOST:PORT, e.g. 127.0.0.1:6060")
	}
	if host == "" {
		return fmt.Errorf("name the host, e.g. 127.0.0.1:6060: an empty host listens on every interface")
	}
	if host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("host %q: want an IP address or localhost", host)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	return nil
}

// Loopback reports whether addr's host is localhost or a loopback IP.
func Loopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler serves /debug/pprof/ and its profiles.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Server is a running side listener.
type Server struct {
	ln   net.Listener
	hs   *http.Server
	done chan struct{}
}

// Start listens on addr through n and serves pprof's Handler until Close.
// It logs a warning when addr is not loopback: the caller asked for it
// explicitly, but whoever reaches the port can read the process's internals.
func Start(n transport.Net, addr string, log *slog.Logger, component string) (*Server, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	// No WriteTimeout: /debug/pprof/profile and /trace stream for the
	// seconds the client asks for.
	s, err := Listen(n, addr, Handler())
	if err != nil {
		return nil, err
	}
	if !Loopback(addr) {
		log.Warn(component+": pprof listens on a non-loopback address; anyone who reaches it can read stacks and profiles", "addr", s.Addr().String())
	}
	log.Info(component+": pprof listening", "addr", s.Addr().String())
	return s, nil
}

// Listen listens on addr through n and serves h until Close.
func Listen(n transport.Net, addr string, h http.Handler) (*Server, error) {
	taddr, err := n.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln, err := n.ListenTCP("tcp", taddr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		ln:   ln,
		hs:   &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.hs.Serve(ln)
	}()
	return s, nil
}

// Addr is the address the listener is bound to (the port picked for :0);
// nil on a nil Server, so that owners can return it whether or not pprof
// was asked for.
func (s *Server) Addr() net.Addr {
	if s == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the listener and every open profile request, and waits for
// the serving goroutine to end.
func (s *Server) Close() error {
	err := s.hs.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
