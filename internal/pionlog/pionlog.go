// Package pionlog adapts log/slog to pion's logging.LoggerFactory, so that
// pion's ICE, TURN and DTLS logs land in natkit's structured log stream.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// LevelTrace is below slog.LevelDebug: pion's trace output is very chatty
// and only wanted when explicitly asked for.
const LevelTrace = slog.Level(-8)

// Factory creates pion loggers that write to an slog.Logger.
type Factory struct {
	logger *slog.Logger
}

// NewFactory returns a LoggerFactory writing to logger. A nil logger
// discards everything.
func NewFactory(logger *slog.Logger) *Factory {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Factory{logger: logger}
}

// NewLogger returns a logger tagged with pion's scope (e.g. "ice", "turn").
func (f *Factory) NewLogger(scope string) logging.LeveledLogger {
	return &leveledLogger{logger: f.logger.With("pion", scope)}
}

type leveledLogger struct {
	logger *slog.Logger
}

func (l *leveledLogger) log(level slog.Level, msg string) {
	// Enabled first: formatting pion's trace messages is not free.
	if !l.logger.Enabled(context.Background(), level) {
		return
	}
	l.logger.Log(context.Background(), level, msg)
}

func (l *leveledLogger) logf(level slog.Level, format string, args ...any) {
	if !l.logger.Enabled(context.Background(), level) {
		return
	}
	l.logger.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l *leveledLogger) Trace(msg string)                  { l.log(LevelTrace, msg) }
func (l *leveledLogger) Tracef(format string, args ...any) { l.logf(LevelTrace, format, args...) }
func (l *leveledLogger) Debug(msg string)                  { l.log(slog.LevelDebug, msg) }
func (l *leveledLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l *leveledLogger) Info(msg string)                   { l.log(slog.LevelInfo, msg) }
func (l *leveledLogger) Infof(format string, args ...any)  { l.logf(slog.LevelInfo, format, args...) }
func (l *leveledLogger) Warn(msg string)                   { l.log(slog.LevelWarn, msg) }
func (l *leveledLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l *leveledLogger) Error(msg string)                  { l.log(slog.LevelError, msg) }
func (l *leveledLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
