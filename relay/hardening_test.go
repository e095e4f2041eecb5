package relay_test

import (
	"testing"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/relay"
)

// The holes natkit audit found in the relay (issue 12), one test each.

func TestFingerprintMismatchDiscarded(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			srv := startLoopback(t, relay.Config{Users: map[string]string{"u": "p"}})
			c := newRawClient
			if network == "tcp" {
				c = newTCPRawClient
			}
			cl := c(t, addrOf(t, srv, network), "u", "p")
			m := cl.signed(stun.MethodAllocate, requestedTransportUDP{})
			bad := append([]byte(nil), m.Raw...)
			bad[len(bad)-1] ^= 0x01 // FINGERPRINT is the last attribute
			cl.send(bad)
			cl.expectSilence()
			require.EqualValues(t, 1, srv.Stats().BadPackets[relay.BadFingerprint])
			require.Zero(t, srv.AllocationCount())
			// The same request with its FINGERPRINT intact succeeds.
			resp := cl.roundTrip(m.Raw, m.TransactionID)
			require.Zero(t, errorCode(resp), "response %s", resp)
			// A Binding request with a wrong FINGERPRINT is dropped too.
			b, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
			require.NoError(t, err)
			b.Raw[len(b.Raw)-1] ^= 0x01
			cl.send(b.Raw)
			cl.expectSilence()
			require.EqualValues(t, 2, srv.Stats().BadPackets[relay.BadFingerprint])
		})
	}
}
