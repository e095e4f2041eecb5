package signalserver

import (
	"crypto/sha1" // #nosec G505 -- RFC 6455 fixes SHA-1 for Sec-WebSocket-Accept
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// RFC 6455 framing for the connections the event loop serves (evloop.go):
// coder/websocket needs a goroutine blocked in Read per connection, which
// is what the loop exists to avoid. Only the server side is here: client
// frames are masked, server frames are not; no extension is negotiated.

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// frameHeader is a parsed client frame header.
type frameHeader struct {
	fin    bool
	op     byte
	mask   [4]byte
	length int64 // payload bytes
	size   int   // header bytes
}

// errProtocol is a client frame that breaks RFC 6455 (close code 1002).
type errProtocol string

func (e errProtocol) Error() string { return string(e) }

// parseHeader parses the frame header at the start of b; ok is false
// while b does not hold all of it.
func parseHeader(b []byte) (h frameHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	h.fin = b[0]&0x80 != 0
	h.op = b[0] & 0x0F
	if b[0]&0x70 != 0 {
		return h, false, errProtocol("reserved bits set: no extension was negotiated")
	}
	if b[1]&0x80 == 0 {
		return h, false, errProtocol("unmasked client frame")
	}
	switch h.op {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
	default:
		return h, false, errProtocol(fmt.Sprintf("unknown opcode %#x", h.op))
	}
	n := int64(b[1] & 0x7F)
	h.size = 2
	switch n {
	case 126:
		if len(b) < 4 {
			return h, false, nil
		}
		n = int64(binary.BigEndian.Uint16(b[2:]))
		h.size = 4
	case 127:
		if len(b) < 10 {
			return h, false, nil
		}
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return h, false, errProtocol("payload length has its high bit set")
		}
		n = int64(u)
		h.size = 10
	}
	if h.op >= opClose && (n > 125 || !h.fin) {
		return h, false, errProtocol("control frame longer than 125 bytes or fragmented")
	}
	if len(b) < h.size+4 {
		return h, false, nil
	}
	copy(h.mask[:], b[h.size:])
	h.size += 4
	h.length = n
	return h, true, nil
}

// unmask XORs p with the client's masking key in place, eight bytes at
// a time.
func unmask(p []byte, key [4]byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// appendFrame appends an unmasked, final server frame.
func appendFrame(b []byte, op byte, payload []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// closePayload is a close frame's body: the code, then the reason cut to
// fit the 125-byte control frame limit. StatusNoStatusRcvd sends none.
func closePayload(code websocket.StatusCode, reason string) []byte {
	if code == websocket.StatusNoStatusRcvd {
		return nil
	}
	if len(reason) > 123 {
		reason = reason[:123]
	}
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code)) //nolint:gosec // close codes are 16 bits (RFC 6455 section 7.4)
	return append(p, reason...)
}

// parseClose reads a client close frame's status: StatusNoStatusRcvd
// (1005) when it carries none.
func parseClose(p []byte) (websocket.StatusCode, error) {
	switch {
	case len(p) == 0:
		return websocket.StatusNoStatusRcvd, nil
	case len(p) == 1:
		return 0, errProtocol("close frame of 1 byte")
	}
	return websocket.StatusCode(binary.BigEndian.Uint16(p)), nil
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey is the Sec-WebSocket-Accept answer to a Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID)) // #nosec G401 -- fixed by RFC 6455
	return base64.StdEncoding.EncodeToString(h[:])
}

// checkUpgrade validates a WebSocket upgrade request and returns its key,
// or the HTTP status and reason to refuse it with.
func checkUpgrade(r *http.Request) (key string, status int, why string) {
	if !headerHas(r.Header, "Connection", "upgrade") {
		return "", http.StatusUpgradeRequired, `WebSocket protocol violation: Connection header does not contain "Upgrade"`
	}
	if !headerHas(r.Header, "Upgrade", "websocket") {
		return "", http.StatusUpgradeRequired, `WebSocket protocol violation: Upgrade header does not contain "websocket"`
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		return "", http.StatusBadRequest, fmt.Sprintf("unsupported WebSocket protocol version %q (only 13 is supported)", v)
	}
	key = r.Header.Get("Sec-WebSocket-Key")
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return "", http.StatusBadRequest, fmt.Sprintf("invalid Sec-WebSocket-Key %q", key)
	}
	return key, 0, ""
}

// headerHas reports whether the comma-separated header name holds token.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
