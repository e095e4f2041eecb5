package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Format is a report rendering.
type Format string

// The formats natkit writes.
const (
	FormatText     Format = "text"
	FormatJSON     Format = "json"
	FormatJUnit    Format = "junit"
	FormatMarkdown Format = "markdown"
	FormatHTML     Format = "html"
)

var allFormats = []Format{FormatText, FormatJSON, FormatJUnit, FormatMarkdown, FormatHTML}

// FormatNames lists the valid format names, for flag help and errors.
func FormatNames() []string {
	names := make([]string, len(allFormats))
	for i, f := range allFormats {
		names[i] = string(f)
	}
	return names
}

// ParseFormat accepts a format name.
func ParseFormat(name string) (Format, error) {
	for _, f := range allFormats {
		if string(f) == strings.ToLower(name) {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w %q: want one of %s", ErrUnknownFormat, name, strings.Join(FormatNames(), ", "))
}

// FormatForPath picks the format from a file extension.
func FormatForPath(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return FormatJSON, nil
	case ".xml":
		return FormatJUnit, nil
	case ".md", ".markdown":
		return FormatMarkdown, nil
	case ".html", ".htm":
		return FormatHTML, nil
	case ".txt", ".text":
		return FormatText, nil
	}
	return "", fmt.Errorf("%w: extension %q: want .json, .xml (JUnit), .md, .html or .txt", ErrUnknownFormat, filepath.Ext(path))
}

// RenderOptions tune rendering.
type RenderOptions struct {
	// Color adds ANSI colours to the text format (only for terminals).
	Color bool
}

// Render writes rep to w in format.
func Render(w io.Writer, rep *Report, format Format, opts RenderOptions) error {
	switch format {
	case FormatText:
		return RenderText(w, rep, opts)
	case FormatJSON:
		return RenderJSON(w, rep)
	case FormatJUnit:
		return RenderJUnit(w, rep)
	case FormatMarkdown:
		return RenderMarkdown(w, rep)
	case FormatHTML:
		return RenderHTML(w, rep)
	}
	return fmt.Errorf("%w %q", ErrUnknownFormat, format)
}

// RenderJSON writes the report as indented JSON, the schema itself.
func RenderJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

// Decode reads a JSON report and checks its schema version.
func Decode(r io.Reader) (*Report, error) {
	var probe struct {
		Schema *string `json:"schema"`
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, &SchemaError{Reason: "not valid JSON: " + err.Error()}
	}
	if probe.Schema == nil {
		return nil, &SchemaError{Reason: `no "schema" field`}
	}
	if *probe.Schema != SchemaVersion {
		return nil, &SchemaError{Got: *probe.Schema}
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, &SchemaError{Reason: err.Error()}
	}
	if !rep.Verdict.Valid() {
		return nil, &SchemaError{Reason: fmt.Sprintf("verdict %q is not one of pass, fail, error, interrupted", rep.Verdict)}
	}
	return &rep, nil
}

// Ago says how long before now t was, for people: "42s ago", "3h 12m ago",
// "4 days ago", "6.2 years ago", never "54424h15m59s ago"; a zero t (never
// set) is "never".
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, " from now"
	}
	const day = 24 * time.Hour
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return d.Round(time.Second).String() + suffix
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Second).String(), "0s") + suffix
	case d < 2*day:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s") + suffix
	case d < 365*day:
		return strconv.Itoa(int(d/day)) + " days" + suffix
	}
	return strconv.FormatFloat(d.Hours()/24/365.25, 'f', 1, 64) + " years" + suffix
}
