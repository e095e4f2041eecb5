// Package natbehavior classifies a NAT's mapping and filtering behaviour
// with the RFC 5780 tests, and says what that means for calls.
//
// Run performs, against a server that returns OTHER-ADDRESS:
//
//   - the mapping tests I–III (§4.3) on one socket: mapping is
//     endpoint-independent (EIM), address-dependent (ADM) or address- and
//     port-dependent (APDM), or there is no NAT when the mapped address is
//     a local one;
//   - the filtering tests I–III (§4.4) on a fresh socket, so the mapping
//     test's traffic does not open the filter: EIF, ADF or APDF;
//   - optionally the hairpinning test (§4.5) and binding-lifetime discovery
//     (§4.6, bounded, reported as a range);
//   - port preservation as observed.
//
// When the server gives no OTHER-ADDRESS, Run says so: with an alternate
// server it compares the mappings seen by the two servers, and it reports
// filtering as not determined. It never guesses.
//
// STUN transactions retransmit as RFC 5389 §7.2.1 prescribes (Client,
// Retransmit) and every phase is bounded. Every socket comes from the
// Config's transport.Net, so the probe runs unchanged in pion's vnet.
package natbehavior
