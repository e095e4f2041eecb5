package sidehttp

import (
	"log/slog"
	"testing"

	"github.com/pion/transport/v3/stdnet"
)

func TestCheckAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:6060": true, "localhost:0": true, "[::1]:6060": true, "0.0.0.0:6060": true,
		":6060": false, "6060": false, "example.com:6060": false, "127.0.0.1:99999": false, "127.0.0.1:x": false,
	} {
		if err := CheckAddr(addr); (err == nil) != ok {
			t.Errorf("CheckAddr(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestStartServesIndexAndCloses(t *testing.T) {
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(n, "127.0.0.1:0", slog.New(slog.DiscardHandler), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckIndex(s.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if CheckIndex(s.Addr()) == nil {
		t.Fatal("pprof still answers after Close")
	}
}
