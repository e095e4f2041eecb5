package reports

import (
	"strconv"
	"time"
)

// Merge combines reports of one kind, e.g. from parallel bench workers.
// Distribution metrics are merged from their histograms and their
// percentiles recomputed, never averaged; counters are summed; gauges keep
// the maximum; checks, series, events, tables and children are concatenated
// (labelled with their source report); the verdict is the worst.
func Merge(reps ...*Report) (*Report, error) {
	if len(reps) == 0 {
		return nil, ErrNothingToMerge
	}
	first := reps[0]
	for _, r := range reps[1:] {
		if r.Kind != first.Kind {
			return nil, &KindMismatchError{Want: first.Kind, Got: r.Kind, Name: r.Name}
		}
	}
	if len(reps) == 1 {
		cp := *first
		return &cp, nil
	}
	out := &Report{
		Schema:      SchemaVersion,
		Kind:        first.Kind,
		Name:        first.Name,
		Target:      first.Target,
		Started:     first.Started,
		Verdict:     VerdictPass,
		Environment: first.Environment,
		Headline:    first.Headline,
	}
	end := first.Started.Add(first.Duration.D())
	sources := make([]string, len(reps))
	for i, r := range reps {
		sources[i] = sourceLabel(r, i)
		if r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		if e := r.Started.Add(r.Duration.D()); e.After(end) {
			end = e
		}
	}
	out.Duration = Duration(end.Sub(out.Started))
	if !allSame(reps, func(r *Report) string { return r.Target }) {
		out.Target = ""
	}
	if !allSame(reps, func(r *Report) string { return r.Name }) {
		out.Name = first.Kind + " (merged)"
	}

	var metricOrder []string
	byName := map[string][]Metric{}
	for i, r := range reps {
		out.Verdict = Worse(out.Verdict, r.Verdict)
		shift := r.Started.Sub(out.Started)
		for _, c := range r.Checks {
			c.Name = c.Name + " [" + sources[i] + "]"
			out.Checks = append(out.Checks, c)
		}
		for _, m := range r.Metrics {
			if _, ok := byName[m.Name]; !ok {
				metricOrder = append(metricOrder, m.Name)
			}
			byName[m.Name] = append(byName[m.Name], m)
		}
		for _, s := range r.Series {
			s.Name = s.Name + " [" + sources[i] + "]"
			s.Points = shiftPoints(s.Points, shift)
			out.Series = append(out.Series, s)
		}
		for _, e := range r.Events {
			e.Offset = Duration(e.Offset.D() + shift)
			if e.Source == "" {
				e.Source = sources[i]
			} else {
				e.Source = sources[i] + "/" + e.Source
			}
			out.Events = append(out.Events, e)
		}
		for _, t := range r.Tables {
			t.Title = t.Title + " [" + sources[i] + "]"
			out.Tables = append(out.Tables, t)
		}
		out.Grids = append(out.Grids, r.Grids...)
		for _, c := range r.CDFCharts {
			if !hasCDFChart(out.CDFCharts, c.Title) {
				out.CDFCharts = append(out.CDFCharts, c)
			}
		}
		out.Children = append(out.Children, r.Children...)
	}
	for _, name := range metricOrder {
		m, err := mergeMetrics(byName[name])
		if err != nil {
			return nil, err
		}
		out.Metrics = append(out.Metrics, m)
	}
	out.Summary = mergedSummary(reps, out)
	return out, nil
}

func sourceLabel(r *Report, i int) string {
	if r.Environment != nil && r.Environment.Hostname != "" {
		return r.Environment.Hostname + "#" + strconv.Itoa(i+1)
	}
	return "worker " + strconv.Itoa(i+1)
}

func allSame(reps []*Report, f func(*Report) string) bool {
	for _, r := range reps[1:] {
		if f(r) != f(reps[0]) {
			return false
		}
	}
	return true
}

func shiftPoints(pts []Point, by time.Duration) []Point {
	out := make([]Point, len(pts))
	for i, p := range pts {
		out[i] = Point{Offset: Duration(p.Offset.D() + by), Value: p.Value}
	}
	return out
}

func mergeMetrics(ms []Metric) (Metric, error) {
	first := ms[0]
	switch first.Kind {
	case KindCounter:
		out := first
		for _, m := range ms[1:] {
			out.Value += m.Value
		}
		return out, nil
	case KindGauge:
		out := first
		for _, m := range ms[1:] {
			out.Value = max(out.Value, m.Value)
		}
		return out, nil
	}
	h, err := first.decode()
	if err != nil {
		return Metric{}, err
	}
	for _, m := range ms[1:] {
		if m.Histogram == nil || m.Histogram.Scale != first.Histogram.Scale {
			return Metric{}, &HistogramError{Metric: m.Name, Err: errScaleMismatch}
		}
		other, err := m.decode()
		if err != nil {
			return Metric{}, err
		}
		if dropped := h.Merge(other); dropped > 0 {
			return Metric{}, &HistogramError{Metric: m.Name, Err: errMergeDropped}
		}
	}
	return metricFromHistogram(first.Name, first.Unit, first.Histogram.Scale, h)
}

func mergedSummary(reps []*Report, out *Report) string {
	counts := map[Verdict]int{}
	for _, r := range reps {
		counts[r.Verdict]++
	}
	s := "merged " + strconv.Itoa(len(reps)) + " " + out.Kind + " reports:"
	for _, v := range []Verdict{VerdictPass, VerdictFail, VerdictError, VerdictInterrupted} {
		if counts[v] > 0 {
			s += " " + strconv.Itoa(counts[v]) + " " + string(v)
		}
	}
	return s
}

// hasCDFChart reports whether charts has one titled title: merged reports
// name the same metrics, and the merged metric is drawn once.
func hasCDFChart(charts []CDFChart, title string) bool {
	for _, c := range charts {
		if c.Title == title {
			return true
		}
	}
	return false
}
