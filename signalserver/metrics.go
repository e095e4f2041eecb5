package signalserver

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natkit/natkit/signalserver/protocol"
)

// metrics are the server's Prometheus collectors, in its own registry so
// that several servers can live in one process (tests).
type metrics struct {
	reg         *prometheus.Registry
	connections prometheus.Gauge
	rooms       prometheus.Gauge
	peers       prometheus.Gauge
	relayed     *prometheus.CounterVec
	// relayedBy caches relayed's counters for the relayed types.
	relayedBy   map[string]prometheus.Counter
	errors      *prometheus.CounterVec
	queued      prometheus.Counter
	queuedNow   prometheus.Gauge
	expired     prometheus.Counter
	disconnects *prometheus.CounterVec
	tokens      prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natkit_signal_connections", Help: "Open WebSocket connections."}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natkit_signal_rooms", Help: "Rooms with at least one peer on this instance."}),
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natkit_signal_peers", Help: "Joined peers on this instance, including peers awaiting a resume."}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natkit_signal_messages_relayed_total", Help: "Messages relayed to a peer, by type."}, []string{"type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natkit_signal_errors_total", Help: "Error frames sent, by code."}, []string{"code"}),
		queued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natkit_signal_queued_messages_total", Help: "Messages queued for a peer that had not joined or was reconnecting."}),
		queuedNow: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natkit_signal_queued_messages", Help: "Messages waiting in queues now."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natkit_signal_expired_messages_total", Help: "Queued messages that expired or overflowed; each sender got an undelivered error."}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natkit_signal_disconnects_total", Help: "Connections closed by the server, by reason."}, []string{"reason"}),
		tokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natkit_signal_ice_tokens_total", Help: "TURN credentials minted by /v1/ice-servers and joined."}),
	}
	m.relayedBy = map[string]prometheus.Counter{}
	for _, t := range []string{protocol.TypeOffer, protocol.TypeAnswer, protocol.TypeCandidate, protocol.TypeBye} {
		m.relayedBy[t] = m.relayed.WithLabelValues(t)
	}
	m.reg.MustRegister(m.connections, m.rooms, m.peers, m.relayed, m.errors, m.queued, m.queuedNow, m.expired, m.disconnects, m.tokens)
	return m
}

// countRelayed counts a relayed message; other frame types are not counted.
func (m *metrics) countRelayed(typ string) {
	if c := m.relayedBy[typ]; c != nil {
		c.Inc()
	}
}
