package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// Browser is one running headless Chromium, with one tab.
type Browser struct {
	cfg Config
	// ctx is the browser's tab; cancelling it (or the allocator) ends the
	// browser.
	ctx                    context.Context
	cancelTab, cancelAlloc context.CancelFunc
	pid                    int
	args                   []string
	version                string
	startTime              time.Duration
	launched               time.Time
	closeOnce              sync.Once
	closing                chan struct{}
	mu                     sync.Mutex
	cmd                    *exec.Cmd
}

// Info is what a report records of a browser.
type Info struct {
	// Version is Chromium's product string, e.g. "HeadlessChrome/156.0…".
	Version string `json:"version"`
	// Flags are the command-line flags it was started with (the temporary
	// profile directory left out).
	Flags []string `json:"flags"`
	// Namespace is the network namespace it ran in ("" for the current one).
	Namespace string `json:"namespace,omitempty"`
	PID       int    `json:"pid"`
	// StartTime is the launch until DevTools answered.
	StartTime time.Duration `json:"start_time"`
}

// Find returns the path of the Chromium binary cfg names, or an
// *EnvError (ErrNotInstalled).
func Find(execPath string) (string, error) {
	if execPath == "" {
		execPath = Config{}.withDefaults().ExecPath
	}
	p, err := exec.LookPath(execPath)
	if err != nil {
		return "", &EnvError{Kind: ErrNotInstalled, What: execPath, Err: err}
	}
	return p, nil
}

// flags are natkit's Chromium flags beyond chromedp's defaults: WebRTC
// over UDP with nothing in the way (no QUIC, no background traffic, no
// media prompts), and loopback candidates for calls on 127.0.0.0/8.
func (c Config) flags() []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.NoSandbox, // natkit's lab runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	)
	if !c.HideLocalIPs {
		opts = append(opts, chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"))
	}
	for _, f := range c.Flags {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if hasValue {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	return opts
}

// Launch starts Chromium (inside cfg.Namespace when set) and waits until
// its DevTools pipe answers. Errors are a *ConfigError or an *EnvError
// (ErrNotInstalled, ErrStart). Close it when done, also after ctx ends.
func Launch(ctx context.Context, cfg Config) (*Browser, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	bin, err := Find(cfg.ExecPath)
	if err != nil {
		return nil, err
	}
	var ipPath string
	if cfg.Namespace != "" {
		if ipPath, err = exec.LookPath("ip"); err != nil {
			return nil, &EnvError{Kind: ErrStart, What: "ip netns exec " + cfg.Namespace, Err: fmt.Errorf("%w (apt-get install iproute2)", err)}
		}
	}
	b := &Browser{cfg: cfg, closing: make(chan struct{})}
	opts := append(cfg.flags(), chromedp.ExecPath(bin), chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		if cfg.Namespace != "" {
			// ip execs chromium: the PID stays the browser's.
			cmd.Args = append([]string{"ip", "netns", "exec", cfg.Namespace, bin}, cmd.Args[1:]...)
			cmd.Path = ipPath
		}
		// Its own process group, so Close kills what it started too; and
		// killed with the thread that started it if natkit dies.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		b.mu.Lock()
		b.cmd = cmd
		b.mu.Unlock()
	}))
	// The browser lives until Close, not only as long as ctx: a caller
	// that cancels still gets its processes killed by Close.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	tab, cancelTab := chromedp.NewContext(actx)
	b.ctx, b.cancelTab, b.cancelAlloc = tab, cancelTab, cancelAlloc
	t0 := time.Now()
	b.launched = t0
	type started struct {
		v   cdpbrowser.GetVersionResult
		err error
	}
	done := make(chan started, 1)
	go func() {
		v, err := chromedp.Run(tab, func(ctx context.Context, _ *chromedp.Target) (cdpbrowser.GetVersionResult, error) {
			return cdp.Call(ctx, chromedp.FromContext(ctx).Browser, cdpbrowser.GetVersion, cdp.Empty{})
		})
		done <- started{v, err}
	}()
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	var st started
	select {
	case st = <-done:
	case <-timer.C:
		st.err = fmt.Errorf("no answer from DevTools within %v", cfg.StartTimeout)
	case <-ctx.Done():
		st.err = ctx.Err()
	}
	b.startTime = time.Since(t0)
	b.mu.Lock()
	if b.cmd != nil && b.cmd.Process != nil {
		b.pid = b.cmd.Process.Pid
		b.args = b.cmd.Args
	}
	b.mu.Unlock()
	if st.err != nil {
		_ = b.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		what := bin
		if cfg.Namespace != "" {
			what += " in network namespace " + cfg.Namespace
		}
		return nil, &EnvError{Kind: ErrStart, What: what, Err: st.err}
	}
	b.version = st.v.Product
	cfg.Logger.Debug("chromium started", "pid", b.pid, "version", b.version, "namespace", cfg.Namespace, "took", b.startTime)
	return b, nil
}

// PID is the browser's main process id, also its process group id.
func (b *Browser) PID() int { return b.pid }

// Info describes the browser for a report.
func (b *Browser) Info() Info {
	var flags []string
	for _, a := range b.args {
		if strings.HasPrefix(a, "--") && !strings.HasPrefix(a, "--user-data-dir=") {
			flags = append(flags, a)
		}
	}
	return Info{Version: b.version, Flags: flags, Namespace: b.cfg.Namespace, PID: b.pid, StartTime: b.startTime}
}

// alive reports whether the browser's main process still runs.
func (b *Browser) alive() bool {
	select {
	case <-b.ctx.Done():
		return false
	default:
	}
	return b.pid > 0 && syscall.Kill(b.pid, 0) == nil
}

// crashed turns err from a page action into a *CrashError when the
// browser died under it (and nobody closed it).
func (b *Browser) crashed(peer string, err error) error {
	select {
	case <-b.closing:
		return err
	default:
	}
	if err == nil || b.alive() {
		return err
	}
	ce := &CrashError{Peer: peer, PID: b.pid, Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ce.State = ee.String()
	}
	return ce
}

// Close kills the browser's process group (by the PID Launch started) and
// waits, up to 5s, until none of its processes is left. It is safe to call
// twice.
func (b *Browser) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.closing)
		if b.pid > 0 {
			_ = syscall.Kill(-b.pid, syscall.SIGKILL)
		}
		b.cancelTab()
		b.cancelAlloc()
		if b.pid > 0 {
			deadline := time.Now().Add(5 * time.Second)
			for len(GroupProcesses(b.pid)) > 0 {
				if time.Now().After(deadline) {
					err = fmt.Errorf("chromium process group %d: processes %v still running", b.pid, GroupProcesses(b.pid))
					break
				}
				_ = syscall.Kill(-b.pid, syscall.SIGKILL)
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return err
}

// GroupProcesses lists the live processes (zombies left out) of process
// group pgid, from /proc.
func GroupProcesses(pgid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(d) //nolint:gosec // /proc/<pid>/stat paths from the glob above
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			pid, _ := strconv.Atoi(strings.Fields(s)[0])
			out = append(out, pid)
		}
	}
	return out
}
