package reports

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// MetricKind says how a metric merges across reports.
type MetricKind string

// Metric kinds.
const (
	// KindDistribution metrics carry a histogram; merges recompute
	// percentiles from the merged histogram.
	KindDistribution MetricKind = "distribution"
	// KindCounter metrics are summed on merge (packets sent, allocations).
	KindCounter MetricKind = "counter"
	// KindGauge metrics keep the maximum on merge (peak CPU, peak RSS).
	KindGauge MetricKind = "gauge"
)

// Metric is one measured quantity. Distributions fill Count..Max and
// Histogram; counters and gauges fill Value.
type Metric struct {
	Name      string     `json:"name"`
	Unit      string     `json:"unit"`
	Kind      MetricKind `json:"kind"`
	Value     float64    `json:"value,omitempty"`
	Count     int64      `json:"count,omitempty"`
	Min       float64    `json:"min,omitempty"`
	Mean      float64    `json:"mean,omitempty"`
	P50       float64    `json:"p50,omitempty"`
	P90       float64    `json:"p90,omitempty"`
	P99       float64    `json:"p99,omitempty"`
	Max       float64    `json:"max,omitempty"`
	Histogram *Histogram `json:"histogram,omitempty"`
}

// Histogram is an HDR histogram in the standard V2 compressed base64
// encoding. Recorded integers are metric values times Scale, e.g. a
// millisecond metric recorded in microseconds has Scale 1000.
type Histogram struct {
	Scale float64 `json:"scale"`
	Data  string  `json:"data"`
}

// Counter returns a counter metric.
func Counter(name, unit string, value float64) Metric {
	return Metric{Name: name, Unit: unit, Kind: KindCounter, Value: value}
}

// Gauge returns a gauge metric.
func Gauge(name, unit string, value float64) Metric {
	return Metric{Name: name, Unit: unit, Kind: KindGauge, Value: value}
}

// Recorder collects values into an HDR histogram and turns them into a
// distribution Metric. It is safe for concurrent use.
type Recorder struct {
	name, unit string
	scale      float64
	mu         sync.Mutex
	h          *hdrhistogram.Histogram
	outOfRange int64
}

// NewRecorder records values of unit between 0 and max with 3 significant
// digits, stored as value*scale integers.
func NewRecorder(name, unit string, scale, max float64) *Recorder {
	return &Recorder{
		name: name, unit: unit, scale: scale,
		h: hdrhistogram.New(1, int64(math.Ceil(max*scale)), 3),
	}
}

// NewLatencyRecorder records durations from 1 µs to 1 h, reported in ms.
func NewLatencyRecorder(name string) *Recorder {
	return NewRecorder(name, "ms", 1000, float64(time.Hour/time.Millisecond))
}

// Record adds one value. Values above the range are clamped to the maximum
// and counted in OutOfRange, so a slow outlier is never silently lost.
func (r *Recorder) Record(v float64) {
	iv := int64(math.Round(v * r.scale))
	r.mu.Lock()
	defer r.mu.Unlock()
	if iv < 0 {
		iv = 0
	}
	if err := r.h.RecordValue(iv); err != nil {
		r.outOfRange++
		_ = r.h.RecordValue(r.h.HighestTrackableValue())
	}
}

// RecordDuration adds a duration to a millisecond recorder.
func (r *Recorder) RecordDuration(d time.Duration) {
	r.Record(float64(d) / float64(time.Millisecond))
}

// Count returns the number of recorded values.
func (r *Recorder) Count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.h.TotalCount()
}

// OutOfRange returns how many values were clamped.
func (r *Recorder) OutOfRange() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outOfRange
}

// Metric summarises and encodes what was recorded.
func (r *Recorder) Metric() Metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, _ := metricFromHistogram(r.name, r.unit, r.scale, r.h)
	return m
}

// RecorderOf turns a distribution metric back into a Recorder from its
// histogram, e.g. one read from another process's report.
func RecorderOf(m Metric) (*Recorder, error) {
	h, err := m.decode()
	if err != nil {
		return nil, err
	}
	return &Recorder{name: m.Name, unit: m.Unit, scale: m.Histogram.Scale, h: h}, nil
}

func metricFromHistogram(name, unit string, scale float64, h *hdrhistogram.Histogram) (Metric, error) {
	m := Metric{Name: name, Unit: unit, Kind: KindDistribution, Count: h.TotalCount()}
	if m.Count > 0 {
		m.Min = float64(h.Min()) / scale
		m.Max = float64(h.Max()) / scale
		m.Mean = h.Mean() / scale
		m.P50 = float64(h.ValueAtQuantile(50)) / scale
		m.P90 = float64(h.ValueAtQuantile(90)) / scale
		m.P99 = float64(h.ValueAtQuantile(99)) / scale
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return m, &HistogramError{Metric: name, Err: err}
	}
	m.Histogram = &Histogram{Scale: scale, Data: string(enc)}
	return m, nil
}

// decode returns the metric's histogram.
func (m Metric) decode() (*hdrhistogram.Histogram, error) {
	if m.Histogram == nil {
		return nil, &HistogramError{Metric: m.Name, Err: errors.New("no histogram")}
	}
	if m.Histogram.Scale <= 0 {
		return nil, &HistogramError{Metric: m.Name, Err: errors.New("scale must be positive")}
	}
	h, err := hdrhistogram.Decode([]byte(m.Histogram.Data))
	if err != nil {
		return nil, &HistogramError{Metric: m.Name, Err: err}
	}
	return h, nil
}

// CDF returns (value, fraction ≤ value) points for charts, from the
// histogram. It returns nil when the metric has none.
func (m Metric) CDF() [][2]float64 {
	h, err := m.decode()
	if err != nil || h.TotalCount() == 0 {
		return nil
	}
	var pts [][2]float64
	for _, b := range h.CumulativeDistributionWithTicks(5) {
		pts = append(pts, [2]float64{float64(b.ValueAt) / m.Histogram.Scale, b.Quantile / 100})
	}
	return pts
}
