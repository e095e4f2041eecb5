package reports

import "io"

// RenderHTML writes one self-contained HTML page. (Being written now.)
func RenderHTML(w io.Writer, rep *Report) error {
	return RenderMarkdown(w, rep)
}
