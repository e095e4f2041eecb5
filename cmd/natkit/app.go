package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/natkit/natkit/internal/pionlog"
	"github.com/natkit/natkit/reports"
)

// app is what every command shares: standard streams and the logger.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	logLevel  string
	logFormat string
	noColor   bool

	logger *slog.Logger
	// logOut is the logger's writer: stderr, or the progress line's
	// container while one is drawn (progress.go).
	logOut *logWriter
	// getenv reads the environment (NO_COLOR); nil means os.Getenv.
	getenv func(string) string
}

func (a *app) addLogFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&a.logLevel, "log-level", "warn", "log level: trace, debug, info, warn or error (logs go to stderr)")
	f.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&a.noColor, "no-color", false, "never colour the text report (as does a non-empty NO_COLOR environment variable)")
}

func (a *app) setupLogging() error {
	var level slog.Level
	switch strings.ToLower(a.logLevel) {
	case "trace":
		level = pionlog.LevelTrace
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return usageErrorf("--log-level %q: want trace, debug, info, warn or error", a.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	a.logOut = &logWriter{stderr: a.stderr}
	switch a.logFormat {
	case "text":
		a.logger = slog.New(slog.NewTextHandler(a.logOut, opts))
	case "json":
		a.logger = slog.New(slog.NewJSONHandler(a.logOut, opts))
	default:
		return usageErrorf("--log-format %q: want text or json", a.logFormat)
	}
	return nil
}

// log returns the logger, usable even before flags are parsed (tests).
func (a *app) log() *slog.Logger {
	if a.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.logger
}

func (a *app) stderrIsTerminal() bool { return isTerminal(a.stderr) }

// colorOn tells whether to colour output on w: only a terminal, and never
// with --no-color or a non-empty NO_COLOR (https://no-color.org).
func (a *app) colorOn(w io.Writer) bool {
	getenv := a.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	return !a.noColor && getenv("NO_COLOR") == "" && isTerminal(w)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// outputFlags are the report flags of every report-producing command.
type outputFlags struct {
	format  string
	reports []string
}

func addOutputFlags(cmd *cobra.Command, o *outputFlags) {
	cmd.Flags().StringVar(&o.format, "format", "text", "report format on stdout: "+strings.Join(reports.FormatNames(), ", "))
	cmd.Flags().StringArrayVar(&o.reports, "report", nil, "also write the report to FILE; the format comes from the extension (.json .xml .md .html .txt); repeatable")
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return reports.FormatNames(), cobra.ShellCompDirectiveNoFileComp
	})
}

// validate checks the report flags before any work starts, so that a typo
// does not cost a whole run.
func (o *outputFlags) validate() error {
	if _, err := reports.ParseFormat(o.format); err != nil {
		return usageErrorf("--format %q: want one of %s", o.format, strings.Join(reports.FormatNames(), ", "))
	}
	for _, p := range o.reports {
		if _, err := reports.FormatForPath(p); err != nil {
			return usageErrorf("--report %s: %v", p, err)
		}
		dir := filepath.Dir(p)
		st, err := os.Stat(dir)
		if err != nil {
			return usageErrorf("--report %s: directory %s: %v", p, dir, errors.Unwrap(err))
		}
		if !st.IsDir() {
			return usageErrorf("--report %s: %s is not a directory", p, dir)
		}
	}
	return nil
}

// emit writes the report to stdout and every --report file, then turns the
// verdict into the command's error (and so its exit code). Every file is
// attempted even if one fails.
func (a *app) emit(rep *reports.Report, o *outputFlags) error {
	if rep.Environment == nil {
		rep.Environment = environment()
	}
	format, err := reports.ParseFormat(o.format)
	if err != nil {
		return usageErrorf("--format %q: %v", o.format, err)
	}
	opts := reports.RenderOptions{Color: format == reports.FormatText && a.colorOn(a.stdout)}
	var errs []error
	// Files first: stdout may be a pipe that is already closed (`| head`),
	// and a write there can end the process before the files exist.
	for _, p := range o.reports {
		if err := writeReportFile(p, rep); err != nil {
			errs = append(errs, err)
		}
	}
	if err := reports.Render(a.stdout, rep, format, opts); err != nil {
		errs = append(errs, fmt.Errorf("write report to stdout: %w", err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if rep.Verdict != reports.VerdictPass {
		return &verdictErr{verdict: rep.Verdict}
	}
	return nil
}

// writeReportFile writes atomically: a temporary file in the same directory,
// then rename, so a reader never sees half a report.
func writeReportFile(path string, rep *reports.Report) error {
	format, err := reports.FormatForPath(path)
	if err != nil {
		return fmt.Errorf("--report %s: %w", path, err)
	}
	var buf bytes.Buffer
	if err := reports.Render(&buf, rep, format, reports.RenderOptions{}); err != nil {
		return fmt.Errorf("render report %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}
