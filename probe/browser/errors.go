package browser

import (
	"errors"
	"fmt"

	"github.com/natkit/natkit/internal/configerr"
)

// InstallHint is the next step when Chromium is missing or cannot start.
const InstallHint = "install with: apt-get install chromium"

// Errors returned by this package, for errors.Is.
var (
	// ErrConfig: a Config or PeerConfig holds an impossible value.
	ErrConfig = errors.New("bad browser config")
	// ErrNotInstalled: no chromium binary was found.
	ErrNotInstalled = errors.New("chromium not found")
	// ErrStart: Chromium did not start, or its DevTools pipe did not answer.
	ErrStart = errors.New("chromium did not start")
	// ErrPageLoad: the peer page did not load, or it has no natkitPeer.
	ErrPageLoad = errors.New("peer page did not load")
	// ErrCrashed: the browser process died while a call was on.
	ErrCrashed = errors.New("chromium crashed")
	// ErrStep: the page refused a step (e.g. probes before the data
	// channel opened).
	ErrStep = errors.New("browser step failed")
)

// ConfigError names a config field and what is wrong with it; errors.Is(err,
// ErrConfig) holds.
type ConfigError = configerr.Error

func configErrorf(field, value, format string, args ...any) *ConfigError {
	return configerr.New(ErrConfig, "browser", field, value, format, args...)
}

// EnvError says that the browser could not run here: Kind is
// ErrNotInstalled, ErrStart or ErrPageLoad. The message ends with
// InstallHint, since a missing or broken package is the usual reason.
type EnvError struct {
	Kind error
	// What names the binary, namespace or page.
	What string
	Err  error
}

func (e *EnvError) Error() string {
	msg := fmt.Sprintf("%v: %s", e.Kind, e.What)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + " (" + InstallHint + ")"
}

// Unwrap lets errors.Is match Kind and the cause.
func (e *EnvError) Unwrap() []error { return []error{e.Kind, e.Err} }

// CrashError says that a browser died while its call was on.
type CrashError struct {
	Peer string
	PID  int
	// State is how the process ended (e.g. "signal: killed"), when known.
	State string
	Err   error
}

func (e *CrashError) Error() string {
	msg := fmt.Sprintf("%v: peer %s (pid %d)", ErrCrashed, e.Peer, e.PID)
	if e.State != "" {
		msg += " " + e.State
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrCrashed) true.
func (e *CrashError) Unwrap() []error { return []error{ErrCrashed, e.Err} }
