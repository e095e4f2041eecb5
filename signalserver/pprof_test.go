package signalserver

import (
	"errors"
	"testing"

	"github.com/natkit/natkit/internal/sidehttp"
)

func TestPprofAddr(t *testing.T) {
	s, err := NewServer(Config{PprofAddr: "127.0.0.1:0"})
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

	off, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if off.PprofAddr() != nil {
		t.Fatalf("pprof on by default at %s", off.PprofAddr())
	}
	var ce *ConfigError
	if _, err := NewServer(Config{PprofAddr: "6060"}); !errors.As(err, &ce) || ce.Field != "PprofAddr" {
		t.Fatalf("PprofAddr \"6060\": got %v, want a ConfigError naming PprofAddr", err)
	}
}
