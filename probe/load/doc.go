// Package load is natkit's TURN load engine: allocation load (allocate,
// refresh, delete at a scheduled rate with a concurrency cap) and relayed
// traffic (each allocation sends packets of a given size at a given rate
// through ChannelData or Send indications to an echo peer, or to a paired
// allocation through the same server).
//
// It speaks TURN itself with pion/stun/v3 (a minimal client, no goroutine
// beyond one reader per allocation, no per-packet allocation on the data
// path), so that the tool is not the bottleneck of the relay it measures.
// Sends follow a schedule on the monotonic clock; latency is measured from
// the scheduled send time as well as from the actual send, so a stalled
// sender cannot hide latency (no coordinated omission).
//
// The package also holds the UDP echo peer that `natkit peer` runs.
// Everything takes a transport.Net, so it runs on pion's vnet as well as on
// the real network.
package load
