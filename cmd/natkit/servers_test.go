package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/natkit/natkit/reports"
)

// cancelOnOutput cancels a context once want has been written: the server
// is up, so Ctrl-C can come.
type cancelOnOutput struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   string
	cancel context.CancelFunc
}

func (w *cancelOnOutput) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if strings.Contains(w.buf.String(), w.want) {
		w.cancel()
	}
	return len(b), nil
}

func (w *cancelOnOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// Issue 13 #17: every server (relay, signal, peer) exits 0 on Ctrl-C.
func TestPeerExitsZeroOnCtrlC(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &cancelOnOutput{want: "echoing UDP on", cancel: cancel}
	var stderr bytes.Buffer
	code := run(ctx, []string{"peer", "--listen", "127.0.0.1:0"}, strings.NewReader(""), stdout, &stderr)
	assert.Equal(t, exitPass, code, stderr.String())
	assert.Contains(t, stdout.String(), "natkit peer: echoed 0 packets")
}

func TestVersionSaysTheCommitOnce(t *testing.T) {
	for _, c := range []struct {
		version, commit, want string
	}{
		{"166c537", "166c537", "natkit 166c537"},
		{"166c537-dirty", "166c537", "natkit 166c537-dirty"},
		{"devel", "166c537d3f0a9b1e", "natkit devel (commit 166c537d3f0a9b1e)"},
		{"v0.2.0", "166c537", "natkit v0.2.0 (commit 166c537)"},
		{"v0.2.0-3-g166c537", "166c537", "natkit v0.2.0-3-g166c537"},
		{"166c537", "166c537d3f0a9b1e", "natkit 166c537"},
		{"v0.2.0", "", "natkit v0.2.0"},
	} {
		assert.Equal(t, c.want, versionLine(&reports.Environment{NatkitVersion: c.version, Commit: c.commit}))
	}
}
