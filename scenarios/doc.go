// Package scenarios replays scripted two-peer WebRTC calls across simulated
// NATs and checks what happened against what should have.
//
// A Spec (parsed from YAML by Parse, Load or Library, or built in Go) is a
// topology (two sides, each behind a NAT preset or a custom
// mapping/filtering pair, with loss, latency, bandwidth and a firewall), ICE
// and signaling settings, steps on a timeline (connect, wait_connected,
// send, impair, cut_direct, silence, rebind, ice_restart, wait_recovered,
// hangup, …) and expectations (connected, path, delivered, recovers_within,
// …). Run builds the network, places the call with probe/call, runs each
// step (a type with its own run method; waits block on the peers' state
// changes), and judges the expectations into a Result; Result.Report turns
// it into a report. RunAll runs several, in order, Options.Parallel at a
// time.
//
// RunMatrix is the NAT matrix: one call per ordered pair of NAT presets,
// with and without TURN, each compared with the theory (Theory,
// vnet.ExpectDirect).
//
// The network is a Network: pion's virtual network (package vnet) by
// default. Options.Backend plugs in another implementation, such as Linux
// network namespaces with a kernel NAT; Options.Net names one, and a name
// this build cannot provide is a *BackendError.
//
// A call cut short by the caller's context is interrupted and a scenario
// never started is skipped: neither is compared with its expectations.
package scenarios
