package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// JUnit XML, in the shape GitHub, GitLab and Jenkins all read: a
// <testsuites> root, one <testsuite> per report (children nested), one
// <testcase> per check.

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
	Suites     []junitSuite    `xml:"testsuite,omitempty"`
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
	s := junitSuiteFor(rep, "natkit")
	root := junitSuites{Name: "natkit " + rep.Kind, Time: s.Time, Suites: []junitSuite{s}}
	root.Tests, root.Failures, root.Errors, root.Skipped = totals(s)
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

func junitSuiteFor(rep *Report, parent string) junitSuite {
	name := rep.Kind
	if rep.Name != "" && rep.Name != rep.Kind {
		name += " " + rep.Name
	}
	class := parent + "." + sanitizeClass(name)
	s := junitSuite{
		Name:      name,
		Time:      seconds(rep.Duration),
		SystemOut: rep.Summary,
	}
	if !rep.Started.IsZero() {
		s.Timestamp = rep.Started.UTC().Format("2006-01-02T15:04:05")
	}
	s.Properties = append(s.Properties, junitProperty{Name: "verdict", Value: string(rep.Verdict)})
	if rep.Target != "" {
		s.Properties = append(s.Properties, junitProperty{Name: "target", Value: rep.Target})
	}
	for _, c := range rep.Checks {
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
		}
		s.Cases = append(s.Cases, tc)
	}
	// A report that failed without any check still shows up as a failure.
	if len(rep.Checks) == 0 && rep.Verdict != VerdictPass {
		tc := junitCase{Name: "verdict", Classname: class, Time: seconds(rep.Duration)}
		p := &junitProblem{Message: rep.Summary, Type: string(rep.Verdict), Text: rep.Summary}
		if rep.Verdict == VerdictFail {
			tc.Failure = p
		} else {
			tc.Error = p
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, child := range rep.Children {
		s.Suites = append(s.Suites, junitSuiteFor(child, class))
	}
	s.Tests, s.Failures, s.Errors, s.Skipped = totals(s)
	return s
}

// totals counts a suite's cases including nested suites.
func totals(s junitSuite) (tests, failures, errs, skipped int) {
	for _, c := range s.Cases {
		tests++
		switch {
		case c.Failure != nil:
			failures++
		case c.Error != nil:
			errs++
		case c.Skipped != nil:
			skipped++
		}
	}
	for _, child := range s.Suites {
		t, f, e, sk := totals(child)
		tests, failures, errs, skipped = tests+t, failures+f, errs+e, skipped+sk
	}
	return
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
