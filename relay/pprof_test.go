package relay

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/natkit/natkit/internal/sidehttp"
)

func TestPprofAddr(t *testing.T) {
	s, err := New(Config{Listen: []Listener{{NetworkUDP, "127.0.0.1:0"}}, Users: map[string]string{"a": "b"}, PprofAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.PprofAddr()
	if err := sidehttp.CheckIndex(addr); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if sidehttp.CheckIndex(addr) == nil {
		t.Fatal("pprof answers after Close")
	}

	off, err := New(Config{Listen: []Listener{{NetworkUDP, "127.0.0.1:0"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if off.PprofAddr() != nil {
		t.Fatalf("pprof on by default at %s", off.PprofAddr())
	}
}

func TestPprofAddrErrors(t *testing.T) {
	var ce *ConfigError
	_, err := New(Config{Listen: []Listener{{NetworkUDP, "127.0.0.1:0"}}, PprofAddr: ":6060"})
	if !errors.As(err, &ce) || ce.Field != "PprofAddr" || !errors.Is(err, ErrConfig) {
		t.Fatalf("PprofAddr \":6060\": got %v, want a ConfigError naming PprofAddr", err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = New(Config{Listen: []Listener{{NetworkUDP, "127.0.0.1:0"}}, PprofAddr: busy.Addr().String()})
	if !errors.Is(err, ErrListen) || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("busy PprofAddr: got %v, want ErrListen naming the address", err)
	}
}
