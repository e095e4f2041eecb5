package relay

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestPprofAddr(t *testing.T) {
	s, err := New(Config{Listen: []Listener{{NetworkUDP, "127.0.0.1:0"}}, Users: map[string]string{"a": "b"}, PprofAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.PprofAddr().String() + "/debug/pprof/"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("GET %s: %d %.200q", url, resp.StatusCode, body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url); err == nil {
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
