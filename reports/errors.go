package reports

import (
	"errors"
	"fmt"
)

var (
	// ErrNoDetails means the report carries no kind-specific payload.
	ErrNoDetails = errors.New("report has no details")
	// ErrUnknownFormat means a format name or file extension is not one of Formats.
	ErrUnknownFormat = errors.New("unknown report format")
	// ErrNothingToMerge means Merge was called with no reports.
	ErrNothingToMerge = errors.New("no reports to merge")
)

// KindMismatchError is returned when merging reports of different kinds.
type KindMismatchError struct {
	Want, Got string
	Name      string
}

func (e *KindMismatchError) Error() string {
	return fmt.Sprintf("cannot merge report %q of kind %q into reports of kind %q", e.Name, e.Got, e.Want)
}

// SchemaError is returned when a JSON document is not a natkit v1 report.
type SchemaError struct {
	Got    string
	Reason string
}

func (e *SchemaError) Error() string {
	if e.Got == "" {
		return "not a natkit report: " + e.Reason
	}
	return fmt.Sprintf("unsupported report schema %q (want %q)", e.Got, SchemaVersion)
}

// HistogramError is returned when an encoded histogram cannot be decoded.
type HistogramError struct {
	Metric string
	Err    error
}

func (e *HistogramError) Error() string {
	return fmt.Sprintf("metric %q: bad histogram: %v", e.Metric, e.Err)
}

func (e *HistogramError) Unwrap() error { return e.Err }

var (
	errScaleMismatch = errors.New("histograms recorded with different scales cannot be merged")
	errMergeDropped  = errors.New("merged histogram dropped values outside its range")
)
