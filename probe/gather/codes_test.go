package gather

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTURN answers Allocate requests with scripted error codes, so that
// every diagnosis can be exercised: first (unauthenticated) answers the
// first Allocate (0 = the usual 401 with REALM and NONCE), then answers
// each authenticated one in turn.
type fakeTURN struct {
	conn  net.PacketConn
	first stun.ErrorCode
	then  []stun.ErrorCode
	wg    sync.WaitGroup
}

func startFakeTURN(t *testing.T, first stun.ErrorCode, then ...stun.ErrorCode) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeTURN{conn: pc, first: first, then: then}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() { _ = pc.Close(); f.wg.Wait() })
	return pc.LocalAddr().String()
}

func (f *fakeTURN) serve() {
	defer f.wg.Done()
	buf := make([]byte, 1500)
	authed := 0
	for {
		n, from, err := f.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil {
			continue
		}
		var setters []stun.Setter
		switch {
		case req.Type == stun.BindingRequest:
			a := from.(*net.UDPAddr)
			setters = []stun.Setter{stun.BindingSuccess, &stun.XORMappedAddress{IP: a.IP, Port: a.Port}}
		case req.Type.Method != stun.MethodAllocate:
			continue
		case !req.Contains(stun.AttrUsername):
			code := f.first
			if code == 0 {
				code = stun.CodeUnauthorized
			}
			setters = []stun.Setter{stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse), stun.ErrorCodeAttribute{Code: code},
				stun.NewRealm("fake"), stun.NewNonce("n" + time.Now().Format("150405.000000"))}
		default:
			code := stun.CodeUnauthorized
			if len(f.then) > 0 {
				code = f.then[min(authed, len(f.then)-1)]
			}
			authed++
			setters = []stun.Setter{stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse), stun.ErrorCodeAttribute{Code: code},
				stun.NewRealm("fake"), stun.NewNonce("n" + time.Now().Format("150405.000000"))}
		}
		setters = append([]stun.Setter{stun.NewTransactionIDSetter(req.TransactionID)}, setters...)
		resp, err := stun.Build(append(setters, stun.Fingerprint)...)
		if err != nil {
			continue
		}
		_, _ = f.conn.WriteTo(resp.Raw, from)
	}
}

func TestErrorCodeDiagnoses(t *testing.T) {
	tests := []struct {
		name    string
		first   stun.ErrorCode
		then    []stun.ErrorCode
		cause   Cause
		code    int
		message string
	}{
		{"403 after auth", 0, []stun.ErrorCode{stun.CodeForbidden}, CauseForbidden, 403, "403 Forbidden: the server refuses this client or user"},
		{"403 before auth", stun.CodeForbidden, nil, CauseForbidden, 403, "(answer to the first, unauthenticated Allocate)"},
		{"437", 0, []stun.ErrorCode{stun.CodeAllocMismatch}, CauseMismatch, 437, "437 Allocation Mismatch: an allocation already exists"},
		{"438 twice", 0, []stun.ErrorCode{stun.CodeStaleNonce, stun.CodeStaleNonce}, CauseStaleNonce, 438, "rejected its own fresh nonce twice"},
		{"438 then 401", 0, []stun.ErrorCode{stun.CodeStaleNonce, stun.CodeUnauthorized}, CauseUnauthorized, 401, "wrong username or password"},
		{"486", 0, []stun.ErrorCode{stun.CodeAllocQuotaReached}, CauseQuota, 486, "486 Allocation Quota Reached"},
		{"508", 0, []stun.ErrorCode{stun.CodeInsufficientCapacity}, CauseCapacity, 508, "508 Insufficient Capacity"},
		{"440", 0, []stun.ErrorCode{stun.CodeAddrFamilyNotSupported}, CauseFamily, 440, "440 Address Family not Supported: the server has no IPv4 relay address"},
		{"442", 0, []stun.ErrorCode{stun.CodeUnsupportedTransProto}, CauseErrorResponse, 442, "442 Unsupported Transport Protocol: the server refused the Allocate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startFakeTURN(t, tt.first, tt.then...)
			res, err := Run(context.Background(), Config{Servers: servers(t, "alice", "pw", "turn:"+addr), Timeout: 2 * time.Second, Retransmit: fast})
			require.NoError(t, err)
			s := res.Servers[0]
			assert.Equal(t, tt.cause, s.Cause, s.Diagnosis)
			assert.Equal(t, tt.code, s.ErrorCode)
			assert.Contains(t, s.Diagnosis, tt.message)
			assert.False(t, res.HasCandidate("relay"))
		})
	}
}
