package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal: the terminal end natkit writes to, and
// a function that returns everything written there once the terminal end
// is closed.
func openPTY(t *testing.T) (*os.File, func() string) {
	term, _, output := openPTYLive(t)
	return term, output
}

// openPTYLive also returns what was written so far, for waiting on it.
func openPTYLive(t *testing.T) (*os.File, func() string, func() string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	require.NoError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err)
	term, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	require.NoError(t, unix.IoctlSetWinsize(int(term.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}))
	var mu sync.Mutex
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return // EIO once the terminal end closes
			}
		}
	}()
	sofar := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.ReplaceAll(out.String(), "\r\n", "\n")
	}
	return term, sofar, func() string {
		term.Close()
		<-done
		return sofar()
	}
}

func TestProgressIsANoOpWithoutATerminal(t *testing.T) {
	var stderr bytes.Buffer
	a := &app{stderr: &stderr}
	pb := a.progress(context.Background(), "matrix", 3)
	require.Nil(t, pb)
	pb.Increment()
	pb.Fail()
	pb.SetCurrent(2)
	pb.SetStatus("x")
	pb.Done()
	assert.Empty(t, stderr.String())
}

// On a terminal the line shows the counts and failures, and log lines
// written meanwhile come out whole, above it.
func TestProgressOnATerminalKeepsLogLinesWhole(t *testing.T) {
	term, sofar, output := openPTYLive(t)
	a := &app{stdout: io.Discard, stderr: term, logLevel: "info", logFormat: "text"}
	require.NoError(t, a.setupLogging())
	pb := a.progress(context.Background(), "matrix", 5)
	require.NotNil(t, pb, "stderr is a terminal")
	for i := range 5 {
		if i == 2 {
			pb.Fail()
		} else {
			pb.Increment()
		}
		pb.SetStatus("cell " + strconv.Itoa(i))
		a.log().Info("cell finished", "cell", i, "padding", strings.Repeat("x", 40))
		if i == 2 {
			require.Eventually(t, func() bool { return strings.Contains(sofar(), "1 failed") },
				10*time.Second, 10*time.Millisecond, "the line shows the failure")
		}
	}
	pb.Done()
	a.log().Info("after the bar")
	out := output()
	for i := range 5 {
		assert.Regexp(t, regexp.MustCompile(`(?m)level=INFO msg="cell finished" cell=`+strconv.Itoa(i)+` padding=x{40}$`), out, "log line %d whole and on its own line", i)
	}
	assert.Contains(t, out, "matrix")
	assert.Contains(t, out, "1 failed")
	assert.Regexp(t, `(?m)level=INFO msg="after the bar"$`, out)
}

func TestNoColorEnvironment(t *testing.T) {
	render := func(noColorEnv string, flags ...string) string {
		term, output := openPTY(t)
		a := &app{stdin: strings.NewReader(""), stdout: term, stderr: io.Discard,
			getenv: func(k string) string {
				if k == "NO_COLOR" {
					return noColorEnv
				}
				return ""
			}}
		root := newRootCmd(a)
		root.SetArgs(append([]string{"report", "render", fixturePath("bench.json"), "--format", "text"}, flags...))
		_ = root.ExecuteContext(context.Background())
		return output()
	}
	assert.Contains(t, render(""), "\x1b[", "a terminal gets colour")
	assert.NotContains(t, render("1"), "\x1b[", "NO_COLOR=1 turns colour off")
	assert.NotContains(t, render("", "--no-color"), "\x1b[")
}
