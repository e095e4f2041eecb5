package pprofhttp

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
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
	url := "http://" + s.Addr().String() + "/debug/pprof/"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url); err == nil {
		t.Fatal("pprof still answers after Close")
	}
}
