package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// RenderHTML writes one self-contained HTML page: inline CSS, inline SVG
// charts, no script and no network request. The page stays small for a
// 50-call matrix: details are compact JSON, shown once, and the charts are
// compact SVG.
func RenderHTML(w io.Writer, rep *Report) error {
	var sections []htmlReport
	seen := map[string]int{}
	collectHTML(rep, 0, seen, &sections)
	data := struct {
		Title   string
		Root    *Report
		Reports []htmlReport
	}{Title: "natkit " + titleOf(rep), Root: rep, Reports: sections}
	var buf bytes.Buffer
	if err := htmlPage.Execute(&buf, data); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

type htmlReport struct {
	*Report
	Anchor string
	Depth  int
	Title  string
	// Headline is the first distribution's CDF, drawn full width; Charts
	// are the series over time, and Small the other CDFs, two a row.
	Headline []figure
	Charts   []figure
	Small    []figure
	Timeline template.HTML
	Grids    []htmlGrid
	Children []htmlLink
	Details  template.HTML
	// DetailsNote says what the HTML view left out of Details.
	DetailsNote string
	Metrics     [][]string
}

type htmlGrid struct {
	Grid
	Rows []htmlGridRow
}

type htmlGridRow struct {
	Name  string
	Cells []htmlCell
}

type htmlCell struct {
	Cell
	Href string
}

type htmlLink struct {
	Href, Title string
	Verdict     Verdict
	Summary     string
}

// anchorFor makes a stable, unique id from a report name.
func anchorFor(name string, seen map[string]int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	id := "report-" + strings.Trim(b.String(), "-")
	seen[id]++
	if n := seen[id]; n > 1 {
		id = fmt.Sprintf("%s-%d", id, n)
	}
	return id
}

// collectHTML flattens the report tree into sections, so that grid cells
// can link to the child report that explains them.
func collectHTML(rep *Report, depth int, seen map[string]int, out *[]htmlReport) {
	hr := htmlReport{Report: rep, Depth: depth, Title: titleOf(rep)}
	hr.Anchor = anchorFor(rep.Name+"-"+rep.Kind, seen)
	idx := len(*out)
	*out = append(*out, hr)

	childAnchor := map[string]string{}
	var childStart = len(*out)
	for _, c := range rep.Children {
		collectHTML(c, depth+1, seen, out)
	}
	// Direct children are the sections whose depth is depth+1 after childStart.
	for _, s := range (*out)[childStart:] {
		if s.Depth == depth+1 {
			childAnchor[s.Name] = s.Anchor
			hr.Children = append(hr.Children, htmlLink{Href: "#" + s.Anchor, Title: s.Title, Verdict: s.Verdict, Summary: s.Summary})
		}
	}

	for i, m := range orderMetrics(rep) {
		if fig, ok := cdfChart(m); ok {
			if i == 0 {
				hr.Headline = append(hr.Headline, fig)
			} else {
				hr.Small = append(hr.Small, fig)
			}
		}
	}
	for _, c := range rep.CDFCharts {
		if fig, ok := cdfOverlay(c, rep.Metrics); ok {
			hr.Small = append(hr.Small, fig)
		}
	}
	for _, g := range groupSeries(rep.Series) {
		if fig, ok := seriesChart(g.quantity, g.series); ok {
			hr.Charts = append(hr.Charts, fig)
		}
	}
	hr.Timeline, _ = timelineChart(rep.Events)
	for _, g := range rep.Grids {
		hg := htmlGrid{Grid: g}
		for i, name := range g.Rows {
			row := htmlGridRow{Name: name}
			for j := range g.Cols {
				var c Cell
				if i < len(g.Cells) && j < len(g.Cells[i]) {
					c = g.Cells[i][j]
				}
				hc := htmlCell{Cell: c}
				if a, ok := childAnchor[c.Child]; ok && c.Child != "" {
					hc.Href = "#" + a
				}
				row.Cells = append(row.Cells, hc)
			}
			hg.Rows = append(hg.Rows, row)
		}
		hr.Grids = append(hr.Grids, hg)
	}
	if len(rep.Details) > 0 {
		hr.Details, hr.DetailsNote = detailsHTML(rep)
	}
	hr.Metrics = metricRows(rep.Metrics)
	(*out)[idx] = hr
}

// detailsHTML shows a report's details as compact JSON, escaped for HTML
// text (quotes stay quotes). A report whose children carry timelines shows
// its details without "events" arrays: each child's section lists those
// events already, and a 50-call matrix would otherwise hold every event
// twice. The JSON report keeps everything.
func detailsHTML(rep *Report) (template.HTML, string) {
	data := []byte(rep.Details)
	note := ""
	childEvents := false
	for _, c := range rep.Children {
		childEvents = childEvents || len(c.Events) > 0
	}
	if childEvents {
		var v any
		if json.Unmarshal(data, &v) == nil && dropEvents(v) {
			if b, err := json.Marshal(v); err == nil {
				data = b
				note = "events are in each child report's timeline"
			}
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return "", ""
	}
	var out strings.Builder
	template.HTMLEscape(&out, compact.Bytes())
	return template.HTML(strings.ReplaceAll(out.String(), "&#34;", `"`)), note //nolint:gosec // escaped above; quotes are safe in element text
}

// dropEvents removes every "events" array from decoded JSON and reports
// whether it removed any.
func dropEvents(v any) bool {
	dropped := false
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if _, isArray := x.([]any); k == "events" && isArray {
				delete(t, k)
				dropped = true
				continue
			}
			dropped = dropEvents(x) || dropped
		}
	case []any:
		for _, x := range t {
			dropped = dropEvents(x) || dropped
		}
	}
	return dropped
}

var htmlPage = template.Must(template.New("page").Funcs(template.FuncMap{
	"upper": func(v Verdict) string { return strings.ToUpper(string(v)) },
	"dur":   roundDuration,
	"when": func(r *Report) string {
		if r.Started.IsZero() {
			return ""
		}
		return r.Started.UTC().Format("2006-01-02 15:04:05 MST")
	},
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
main{max-width:1140px;margin:0 auto;padding:24px}
section.report{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:0 0 20px}
section.child{margin-left:16px}
h1,h2,h3{margin:.2em 0 .4em}
h1{font-size:22px}h2{font-size:18px}h3{font-size:15px;color:#57606a}
.badge{display:inline-block;padding:2px 8px;border-radius:12px;font-weight:600;font-size:12px;color:#fff;vertical-align:middle}
.v-pass{background:#1a7f37}.v-fail{background:#cf222e}.v-error{background:#bc4c00}.v-interrupted{background:#9a6700}.v-skip{background:#6e7781}
.summary{font-size:15px;margin:.3em 0 .8em}
.meta{color:#57606a;font-size:12px}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num,table.ev td:first-child{text-align:right;font-variant-numeric:tabular-nums}
table.grid td{text-align:center;min-width:90px}
table.grid td a{color:inherit;text-decoration:none;display:block}
.c-direct{background:#dafbe1}.c-relay{background:#ddf4ff}.c-failed{background:#ffebe9}.c-expected-failure{background:#eaeef2}.c-mismatch{outline:3px solid #cf222e;outline-offset:-3px}
.cell-bad{font-weight:700;color:#cf222e}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:8px 20px;margin:6px 0 12px}
figure{margin:0;min-width:0}
figcaption{font-size:13px;font-weight:600;margin:4px 0 2px}
.legend{display:inline-flex;flex-wrap:wrap;gap:2px 14px;font-weight:400;font-size:12px;color:#57606a;margin-left:10px}
.legend i{display:inline-block;width:22px;border-top-width:3px;vertical-align:middle;margin-right:4px}
figure>svg{width:100%;height:auto;display:block}
svg text{font-size:11px;fill:#57606a}svg text.label{font-size:12px;fill:#1b1f24}svg text.ev{font-size:10px;fill:#1b1f24}
svg path.grid{stroke:#d8dee4;stroke-width:.6}svg path.axis{stroke:#1b1f24;stroke-width:.8}
details pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px}
</style>
</head>
<body>
<main>
{{range .Reports}}
<section class="report{{if .Depth}} child{{end}}" id="{{.Anchor}}">
{{if eq .Depth 0}}<h1>{{else}}<h2>{{end}}<span class="badge v-{{.Verdict}}">{{upper .Verdict}}</span> natkit {{.Title}}{{if eq .Depth 0}}</h1>{{else}}</h2>{{end}}
{{if .Summary}}<p class="summary">{{.Summary}}</p>{{end}}
<p class="meta">{{if .Target}}target <code>{{.Target}}</code> · {{end}}started {{when .Report}} · took {{dur .Duration}}{{with .Environment}}{{if .NatkitVersion}} · natkit {{.NatkitVersion}} {{.GoVersion}} {{.OS}}/{{.Arch}}{{end}}{{end}}</p>
{{range .Grids}}
<h3>{{.Title}}</h3>
<table class="grid"><tr><th>{{.RowLabel}} \ {{.ColLabel}}</th>{{range .Cols}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><th>{{.Name}}</th>{{range .Cells}}<td class="c-{{.Class}}{{if and .Verdict (ne .Verdict "pass")}} c-mismatch{{end}}">{{if .Href}}<a href="{{.Href}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}</td>{{end}}</tr>
{{end}}</table>
{{if .Legend}}<p class="meta">{{range .Legend}}<span class="c-{{.Class}}">&nbsp;{{.Class}}&nbsp;</span> {{.Meaning}} &nbsp; {{end}}<span class="c-mismatch">&nbsp;outlined&nbsp;</span> differs from theory</p>{{end}}
{{end}}
{{if .Checks}}<h3>Checks</h3>
<table><tr><th></th><th>check</th><th>expected</th><th>observed</th><th>message</th><th>time</th></tr>
{{range .Checks}}<tr><td><span class="badge v-{{.Verdict}}">{{upper .Verdict}}</span></td><td>{{.Name}}</td><td>{{.Expected}}</td><td>{{.Observed}}</td><td>{{.Message}}</td><td class="num">{{if .Duration}}{{dur .Duration}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{if or .Headline .Charts .Small}}<div class="charts">{{range .Headline}}{{template "figure" .}}{{end}}{{range .Charts}}{{template "figure" .}}{{end}}{{range .Small}}{{template "figure" .}}{{end}}</div>{{end}}
{{range .Tables}}<h3>{{.Title}}</h3>
<table><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{if .Metrics}}<h3>Metrics</h3>
<table><tr><th>metric</th><th>count/value</th><th>min</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>unit</th></tr>
{{range .Metrics}}<tr>{{range $i, $c := .}}<td{{if $i}} class="num"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{if .Events}}<h3>Timeline</h3>
{{if .Timeline}}<figure>{{.Timeline}}</figure>{{end}}
<details><summary>{{len .Events}} events</summary>
<table class="ev"><tr><th>time<th>source<th>event<th>detail
{{range .Events}}<tr><td>+{{dur .Offset}}<td>{{.Source}}<td>{{.Kind}}<td>{{.Detail}}
{{end}}</table></details>{{end}}
{{if .Children}}<h3>Child reports</h3>
<table><tr><th></th><th>report</th><th>summary</th></tr>
{{range .Children}}<tr><td><span class="badge v-{{.Verdict}}">{{upper .Verdict}}</span></td><td><a href="{{.Href}}">{{.Title}}</a></td><td>{{.Summary}}</td></tr>
{{end}}</table>{{end}}
{{if .Details}}<details><summary>details ({{.Kind}}){{with .DetailsNote}} — {{.}}{{end}}</summary><pre>{{.Details}}</pre></details>{{end}}
</section>
{{end}}
</main>
</body>
</html>
{{define "figure"}}<figure>{{template "fig" .}}</figure>{{end}}
{{define "fig"}}<figcaption>{{.Title}}{{if .Legend}}<span class="legend">{{range .Legend}}<span><i style="border-top-color:{{.Color}};border-top-style:{{.Border}}"></i>{{.Label}}</span>{{end}}</span>{{end}}</figcaption>{{.SVG}}{{end}}
`))
