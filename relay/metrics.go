package relay

import (
	"sort"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Allocation outcomes (natkit_relay_allocations_total{outcome}).
const (
	OutcomeCreated      = "created"
	OutcomeUnauthorized = "unauthorized"
	OutcomeQuota        = "quota"
	OutcomeCapacity     = "capacity"
	// OutcomeFamily: 440, no relayed address of the requested family.
	OutcomeFamily = "family"
	// OutcomeTransport: 442, a TCP allocation (RFC 6062) on a relay
	// without Config.TCPRelay.
	OutcomeTransport = "transport"
)

// Bad packet reasons (natkit_relay_bad_packets_total{reason}).
const (
	BadNotSTUN          = "not_stun"
	BadMalformedSTUN    = "malformed_stun"
	BadTruncatedChannel = "truncated_channel_data"
	BadUnknownAttribute = "unknown_attribute"
	BadUnexpectedClass  = "unexpected_class"
	BadOversized        = "oversized"
	BadFingerprint      = "fingerprint"
)

// labelled is a fixed set of counters, one per label value. The map is
// never written after creation, so reads need no lock.
type labelled map[string]*atomic.Uint64

func newLabelled(labels ...string) labelled {
	l := labelled{}
	for _, s := range labels {
		l[s] = new(atomic.Uint64)
	}
	return l
}

func (l labelled) inc(label string) {
	if c, ok := l[label]; ok {
		c.Add(1)
	}
}

func (l labelled) snapshot() map[string]uint64 {
	m := make(map[string]uint64, len(l))
	for k, v := range l {
		m[k] = v.Load()
	}
	return m
}

type counters struct {
	active          atomic.Int64
	allocations     labelled
	authFailures    labelled
	denied          labelled
	bad             labelled
	pktsToPeer      atomic.Uint64
	bytesToPeer     atomic.Uint64
	pktsToClient    atomic.Uint64
	bytesToClient   atomic.Uint64
	bandwidthDrops  atomic.Uint64
	bindingRequests atomic.Uint64
	acceptErrors    atomic.Uint64
	authTimeouts    atomic.Uint64
	staleNonces     atomic.Uint64
	permissions     atomic.Uint64
	channels        atomic.Uint64
}

func newCounters() *counters {
	return &counters{
		allocations: newLabelled(OutcomeCreated, OutcomeUnauthorized, OutcomeQuota, OutcomeCapacity, OutcomeFamily,
			OutcomeTransport),
		authFailures: newLabelled(ReasonUnknownUser, ReasonWrongPassword, ReasonExpired, ReasonMalformedUsername, ReasonWrongRealm,
			ReasonExpiryTooFar),
		denied: newLabelled(RuleLoopback, RuleUnspecified, RulePrivate, RuleCGNAT, RuleLinkLocal,
			RuleMulticast, RuleBroadcast, RuleReserved, RuleDenyPeer, RuleInvalid, RuleSelf, RuleFamily),
		bad: newLabelled(BadNotSTUN, BadMalformedSTUN, BadTruncatedChannel, BadUnknownAttribute,
			BadUnexpectedClass, BadOversized, BadFingerprint),
	}
}

// Stats is a snapshot of the relay's counters since New.
type Stats struct {
	// ActiveAllocations is the number of live allocations.
	ActiveAllocations int64 `json:"active_allocations"`
	// Allocations counts Allocate outcomes: created, unauthorized, quota
	// (486), capacity (508).
	Allocations map[string]uint64 `json:"allocations"`
	// AuthFailures counts refused credentials by reason.
	AuthFailures map[string]uint64 `json:"auth_failures"`
	// PermissionsDenied counts refused CreatePermission/ChannelBind peers
	// by rule.
	PermissionsDenied map[string]uint64 `json:"permissions_denied"`
	// BadPackets counts dropped or refused malformed input by reason.
	BadPackets map[string]uint64 `json:"bad_packets"`
	// PacketsToPeer/BytesToPeer count data relayed from clients to peers.
	PacketsToPeer uint64 `json:"packets_to_peer"`
	BytesToPeer   uint64 `json:"bytes_to_peer"`
	// PacketsToClient/BytesToClient count data received from peers on
	// relayed sockets, toward clients.
	PacketsToClient uint64 `json:"packets_to_client"`
	BytesToClient   uint64 `json:"bytes_to_client"`
	// BandwidthDrops counts packets dropped by BandwidthLimit.
	BandwidthDrops uint64 `json:"bandwidth_drops"`
	// BindingRequests counts STUN Binding requests answered.
	BindingRequests uint64 `json:"binding_requests"`
	// Permissions and ChannelBinds count permissions and channels created.
	Permissions  uint64 `json:"permissions"`
	ChannelBinds uint64 `json:"channel_binds"`
	// AcceptErrors counts failed accepts on TCP/TLS listeners (e.g.
	// EMFILE), each retried after a back-off.
	AcceptErrors uint64 `json:"accept_errors"`
	// AuthTimeouts counts TCP/TLS connections closed because they did not
	// authenticate within Config.AuthTimeout.
	AuthTimeouts uint64 `json:"auth_timeouts"`
	// StaleNonces counts requests answered 438 Stale Nonce: a nonce that
	// expired or was issued to another 5-tuple (a replay).
	StaleNonces uint64 `json:"stale_nonces"`
}

func (c *counters) stats() Stats {
	return Stats{
		ActiveAllocations: c.active.Load(),
		Allocations:       c.allocations.snapshot(),
		AuthFailures:      c.authFailures.snapshot(),
		PermissionsDenied: c.denied.snapshot(),
		BadPackets:        c.bad.snapshot(),
		PacketsToPeer:     c.pktsToPeer.Load(),
		BytesToPeer:       c.bytesToPeer.Load(),
		PacketsToClient:   c.pktsToClient.Load(),
		BytesToClient:     c.bytesToClient.Load(),
		BandwidthDrops:    c.bandwidthDrops.Load(),
		BindingRequests:   c.bindingRequests.Load(),
		Permissions:       c.permissions.Load(),
		ChannelBinds:      c.channels.Load(),
		AcceptErrors:      c.acceptErrors.Load(),
		AuthTimeouts:      c.authTimeouts.Load(),
		StaleNonces:       c.staleNonces.Load(),
	}
}

// collector exports the counters to Prometheus.
type collector struct{ c *counters }

var (
	descActive   = prometheus.NewDesc("natkit_relay_allocations_active", "Live TURN allocations.", nil, nil)
	descAllocs   = prometheus.NewDesc("natkit_relay_allocations_total", "Allocate requests by outcome.", []string{"outcome"}, nil)
	descAuth     = prometheus.NewDesc("natkit_relay_auth_failures_total", "Refused credentials by reason.", []string{"reason"}, nil)
	descDenied   = prometheus.NewDesc("natkit_relay_permissions_denied_total", "Refused CreatePermission/ChannelBind peers by rule.", []string{"rule"}, nil)
	descBad      = prometheus.NewDesc("natkit_relay_bad_packets_total", "Malformed or refused input by reason.", []string{"reason"}, nil)
	descPackets  = prometheus.NewDesc("natkit_relay_packets_total", "Relayed packets by direction.", []string{"direction"}, nil)
	descBytes    = prometheus.NewDesc("natkit_relay_bytes_total", "Relayed payload bytes by direction.", []string{"direction"}, nil)
	descBWDrops  = prometheus.NewDesc("natkit_relay_bandwidth_drops_total", "Packets dropped by the per-allocation bandwidth limit.", nil, nil)
	descBindings = prometheus.NewDesc("natkit_relay_binding_requests_total", "STUN Binding requests answered.", nil, nil)
	descPerms    = prometheus.NewDesc("natkit_relay_permissions_total", "Permissions created.", nil, nil)
	descChannels = prometheus.NewDesc("natkit_relay_channel_binds_total", "Channels bound.", nil, nil)
	descAuthTime = prometheus.NewDesc("natkit_relay_auth_timeouts_total", "TCP/TLS connections closed for not authenticating in time.", nil, nil)
	descStale    = prometheus.NewDesc("natkit_relay_stale_nonces_total", "Requests answered 438: nonce expired or issued to another 5-tuple.", nil, nil)
	descAccept   = prometheus.NewDesc("natkit_relay_accept_errors_total", "Failed accepts on TCP/TLS listeners, retried after a back-off.", nil, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descActive, descAllocs, descAuth, descDenied, descBad, descPackets, descBytes, descBWDrops, descBindings, descPerms, descChannels, descAccept, descAuthTime, descStale} {
		ch <- d
	}
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	c := k.c
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(c.active.Load()))
	for _, pair := range []struct {
		d *prometheus.Desc
		l labelled
	}{{descAllocs, c.allocations}, {descAuth, c.authFailures}, {descDenied, c.denied}, {descBad, c.bad}} {
		keys := make([]string, 0, len(pair.l))
		for k := range pair.l {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ch <- prometheus.MustNewConstMetric(pair.d, prometheus.CounterValue, float64(pair.l[k].Load()), k)
		}
	}
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(c.pktsToPeer.Load()), "to_peer")
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(c.pktsToClient.Load()), "to_client")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(c.bytesToPeer.Load()), "to_peer")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(c.bytesToClient.Load()), "to_client")
	ch <- prometheus.MustNewConstMetric(descBWDrops, prometheus.CounterValue, float64(c.bandwidthDrops.Load()))
	ch <- prometheus.MustNewConstMetric(descBindings, prometheus.CounterValue, float64(c.bindingRequests.Load()))
	ch <- prometheus.MustNewConstMetric(descPerms, prometheus.CounterValue, float64(c.permissions.Load()))
	ch <- prometheus.MustNewConstMetric(descChannels, prometheus.CounterValue, float64(c.channels.Load()))
	ch <- prometheus.MustNewConstMetric(descAccept, prometheus.CounterValue, float64(c.acceptErrors.Load()))
	ch <- prometheus.MustNewConstMetric(descAuthTime, prometheus.CounterValue, float64(c.authTimeouts.Load()))
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.CounterValue, float64(c.staleNonces.Load()))
}
