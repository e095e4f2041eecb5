package pionlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestFactoryRoutesLevelsAndScope(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l := NewFactory(logger).NewLogger("turn")

	l.Debugf("hidden %d", 1)
	l.Tracef("hidden %d", 2)
	l.Infof("allocation %s", "created")
	l.Warn("careful")
	l.Errorf("failed: %v", "boom")

	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Fatalf("debug/trace leaked at info level:\n%s", out)
	}
	for _, want := range []string{"allocation created", "careful", "failed: boom", "pion=turn", "level=WARN", "level=ERROR"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestNilLoggerDiscards(t *testing.T) {
	l := NewFactory(nil).NewLogger("ice")
	l.Error("nothing to see") // must not panic
}
