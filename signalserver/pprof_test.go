package signalserver

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestPprofAddr(t *testing.T) {
	s, err := NewServer(Config{PprofAddr: "127.0.0.1:0"})
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
