package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// JUnit XML, in the shape GitHub, GitLab and Jenkins all read: a
// <testsuites> root and one flat <testsuite> per report (a matrix and each of
// its calls), one <testcase> per check. Suites are never nested: GitLab and
// Jenkins add a nested suite's cases to its parent's totals as well as to
// their own, which counted every matrix call twice. Totals are sums over
// the leaves. A parent check that names a child report (the matrix's check
// for one cell) is that child's verdict: the child's suite carries it, so
// each call counts once. A report with no checks is one testcase named
// "verdict", so every report counts. A "warn" check is a passing testcase
// whose <system-out> holds the warning: it never shows as skipped.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// RenderJUnit writes the report as JUnit XML.
func RenderJUnit(w io.Writer, rep *Report) error {
	root := junitSuites{Name: "natkit " + rep.Kind, Time: seconds(rep.Duration)}
	appendJUnitSuites(&root.Suites, rep, "natkit", "")
	for _, s := range root.Suites {
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Errors += s.Errors
		root.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// appendJUnitSuites appends rep's suite, then its children's, depth first.
// note is a folded parent check's message, shown in the child's output.
func appendJUnitSuites(out *[]junitSuite, rep *Report, parent, note string) {
	name := rep.Title()
	class := parent + "." + sanitizeClass(name)
	s := junitSuite{
		Name:      name,
		Time:      seconds(rep.Duration),
		SystemOut: strings.TrimSpace(rep.Summary + "\n" + note),
	}
	if !rep.Started.IsZero() {
		s.Timestamp = rep.Started.UTC().Format("2006-01-02T15:04:05")
	}
	s.Properties = append(s.Properties, junitProperty{Name: "verdict", Value: string(rep.Verdict)})
	if rep.Target != "" {
		s.Properties = append(s.Properties, junitProperty{Name: "target", Value: rep.Target})
	}
	// Distributions go along as properties, so CI keeps the percentiles
	// (e.g. a repeated matrix cell's time to connected).
	for _, m := range rep.Metrics {
		if m.Kind == KindDistribution && m.Count > 0 {
			s.Properties = append(s.Properties, junitProperty{Name: m.Name, Value: fmt.Sprintf("count %d, p50 %s, p90 %s, p99 %s, max %s %s", m.Count, num(m.P50), num(m.P90), num(m.P99), num(m.Max), m.Unit)})
		}
	}
	children := map[string]bool{}
	for _, c := range rep.Children {
		children[c.Name] = true
	}
	folded := map[string]string{}
	for _, c := range rep.Checks {
		if children[c.Name] {
			folded[c.Name] = c.Message
			continue
		}
		s.Cases = append(s.Cases, junitCaseFor(c, class))
	}
	// A report that has no check of its own still counts once.
	if len(rep.Checks) == 0 {
		s.Cases = append(s.Cases, junitCaseFor(Check{Name: "verdict", Verdict: rep.Verdict, Message: rep.Summary, Duration: rep.Duration}, class))
	}
	for _, c := range s.Cases {
		s.Tests++
		switch {
		case c.Failure != nil:
			s.Failures++
		case c.Error != nil:
			s.Errors++
		case c.Skipped != nil:
			s.Skipped++
		}
	}
	*out = append(*out, s)
	for _, child := range rep.Children {
		appendJUnitSuites(out, child, class, folded[child.Name])
	}
}

func junitCaseFor(c Check, class string) junitCase {
	tc := junitCase{Name: c.Name, Classname: class, Time: seconds(c.Duration)}
	text := fmt.Sprintf("expected: %s\nobserved: %s", c.Expected, c.Observed)
	if c.Message != "" {
		text += "\n" + c.Message
	}
	msg := c.Message
	if msg == "" {
		msg = fmt.Sprintf("expected %s, observed %s", c.Expected, c.Observed)
	}
	switch c.Verdict {
	case VerdictFail:
		tc.Failure = &junitProblem{Message: msg, Type: "fail", Text: text}
	case VerdictError, VerdictInterrupted:
		tc.Error = &junitProblem{Message: msg, Type: string(c.Verdict), Text: text}
	case VerdictSkip:
		tc.Skipped = &junitSkipped{Message: msg}
	case VerdictWarn:
		tc.SystemOut = "WARNING: " + msg
	}
	return tc
}

func seconds(d Duration) string { return fmt.Sprintf("%.3f", d.D().Seconds()) }

func sanitizeClass(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, s)
}
