package sidehttp

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// CheckIndex fetches http://addr/debug/pprof/ and reports whether it is
// pprof's index; the tests of every owner of a Server use it.
func CheckIndex(addr net.Addr) error {
	url := "http://" + addr.String() + "/debug/pprof/"
	resp, err := http.Get(url) //nolint:gosec,noctx // a loopback address the caller's own server bound
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		return fmt.Errorf("GET %s: %d, not pprof's index: %.200q", url, resp.StatusCode, body)
	}
	return nil
}
