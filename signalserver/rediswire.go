package signalserver

import (
	"encoding/binary"
	"errors"
	"strings"
)

// The Redis hub's pub/sub payloads are batches: one PUBLISH carries every
// record the writer had queued for one instance. A batch is the format
// byte, then records:
//
//	'm' room from to type frame         a message for a peer of the instance
//	'M' room from to type frame         the same, already rerouted once
//	'j'|'l' room peer inst ver          a peer joined or left (inst: where it was)
//	'v' room peer inst old ver          peer moved from instance old to inst
//
// Strings and the frame are a uvarint length then the bytes; ver is a
// uvarint. Binary, not JSON: the frame is already encoded once, and the
// receiver slices the payload instead of parsing it.
const redisWireFormat byte = 1

const (
	recMessage byte = 'm'
	// recRerouted is a message sent on again because its recipient had
	// moved (Envelope.rerouted): it is not rerouted twice.
	recRerouted byte = 'M'
	recJoined   byte = 'j'
	recLeft     byte = 'l'
	recMoved    byte = 'v'
)

// wireRec is one record on its way to (dest) or from another instance.
type wireRec struct {
	dest string // instance the record is for (outgoing only)
	kind byte
	room string
	// messages
	from, to, typ string
	frame         []byte
	// presence
	peer, inst, old string
	ver             int64
}

var errMalformedBatch = errors.New("malformed batch")

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendRec encodes r at the end of a batch.
func appendRec(b []byte, r *wireRec) []byte {
	b = append(b, r.kind)
	b = appendStr(b, r.room)
	switch r.kind {
	case recMessage, recRerouted:
		b = appendStr(b, r.from)
		b = appendStr(b, r.to)
		b = appendStr(b, r.typ)
		b = binary.AppendUvarint(b, uint64(len(r.frame)))
		b = append(b, r.frame...)
	default:
		b = appendStr(b, r.peer)
		b = appendStr(b, r.inst)
		if r.kind == recMoved {
			b = appendStr(b, r.old)
		}
		b = binary.AppendUvarint(b, uint64(r.ver)) //nolint:gosec // a Redis INCR counter, never negative
	}
	return b
}

// batchReader walks the records of one received batch.
type batchReader struct {
	p     string
	frame string // the last message record's frame
	err   error
}

func newBatchReader(payload string) *batchReader {
	if len(payload) == 0 || payload[0] != redisWireFormat {
		return &batchReader{err: errMalformedBatch}
	}
	return &batchReader{p: payload[1:]}
}

func (r *batchReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for i := 0; i < len(r.p) && i < binary.MaxVarintLen64; i++ {
		c := r.p[i]
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			r.p = r.p[i+1:]
			return v
		}
		shift += 7
	}
	r.err = errMalformedBatch
	return 0
}

func (r *batchReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.p)) {
		r.err = errMalformedBatch
		return ""
	}
	s := r.p[:n]
	r.p = r.p[n:]
	return s
}

// next decodes the next record into rec; false at the end or on error.
// The record's strings share one copy of its bytes, so what a server
// queues keeps its own record alive, not the whole batch.
func (r *batchReader) next(rec *wireRec) bool {
	start := r.p
	if !r.decode(rec) {
		return false
	}
	own := &batchReader{p: strings.Clone(start[:len(start)-len(r.p)])}
	own.decode(rec)
	if rec.kind == recMessage || rec.kind == recRerouted {
		rec.frame = []byte(own.frame)
	}
	return true
}

func (r *batchReader) decode(rec *wireRec) bool {
	if r.err != nil || len(r.p) == 0 {
		return false
	}
	*rec = wireRec{kind: r.p[0]}
	r.p = r.p[1:]
	rec.room = r.str()
	switch rec.kind {
	case recMessage, recRerouted:
		rec.from = r.str()
		rec.to = r.str()
		rec.typ = r.str()
		r.frame = r.str()
	case recJoined, recLeft, recMoved:
		rec.peer = r.str()
		rec.inst = r.str()
		if rec.kind == recMoved {
			rec.old = r.str()
		}
		rec.ver = int64(r.uvarint()) //nolint:gosec // written from a non-negative int64
	default:
		r.err = errMalformedBatch
	}
	return r.err == nil
}
