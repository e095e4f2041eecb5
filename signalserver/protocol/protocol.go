// Package protocol holds the types of natkit's signaling protocol v1: JSON
// text frames over WebSocket at /ws, each with a "type".
//
// Client → server:
//
//	join      {room, token?, peer?, resume?}
//	offer     {to?, sdp}
//	answer    {to?, sdp}
//	candidate {to?, candidate}
//	bye       {to?}
//	ping      {}
//
// Server → client:
//
//	joined      {room, peer, peers[], resume, iceServers?}
//	peer-joined {peer}
//	peer-left   {peer}
//	offer|answer|candidate|bye  as sent, with "from" added
//	error       {code, message, ref?}
//	pong        {}
//
// A message never leaves its room. Without "to", a message goes to the other
// peers of the room. A message for a peer that has not joined yet (or that is
// reconnecting) is queued briefly; if it cannot be delivered in time the
// sender gets an error with code "undelivered" — it is never dropped in
// silence.
//
// Decode is the one decoder used by the server; it never panics on input and
// returns a *Error with code bad_message or too_large.
package protocol

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Version is the protocol version served at /ws.
const Version = 1

// Message types.
const (
	TypeJoin       = "join"
	TypeOffer      = "offer"
	TypeAnswer     = "answer"
	TypeCandidate  = "candidate"
	TypeBye        = "bye"
	TypePing       = "ping"
	TypeJoined     = "joined"
	TypePeerJoined = "peer-joined"
	TypePeerLeft   = "peer-left"
	TypeError      = "error"
	TypePong       = "pong"
)

// Error codes carried by error frames.
const (
	CodeRoomFull    = "room_full"
	CodeBadMessage  = "bad_message"
	CodeUnauthorize = "unauthorized"
	CodeRateLimited = "rate_limited"
	CodeTooLarge    = "too_large"
	CodeNotInRoom   = "not_in_room"
	CodeUnknownPeer = "unknown_peer"
	// CodeUndelivered: a queued message expired, or the queue for its
	// recipient was full. Ref names the message type.
	CodeUndelivered = "undelivered"
	// CodeServerFull: the server's connection or room limit is reached.
	CodeServerFull = "server_full"
	// CodePeerTaken: join asked for a peer id that is in use.
	CodePeerTaken = "peer_taken"
)

// MaxIDLen bounds room and peer ids.
const MaxIDLen = 64

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Candidate is RTCIceCandidateInit (the JSON of an RTCIceCandidate, and of
// pion's webrtc.ICECandidateInit).
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Message is every frame of the protocol; which fields are set depends on
// Type.
type Message struct {
	Type string `json:"type"`

	// join / joined
	Room   string `json:"room,omitempty"`
	Token  string `json:"token,omitempty"`
	Peer   string `json:"peer,omitempty"`
	Resume string `json:"resume,omitempty"`
	// Peers lists the other peers of the room in joined.
	Peers      []string    `json:"peers,omitempty"`
	ICEServers []ICEServer `json:"iceServers,omitempty"`

	// relayed messages
	To        string     `json:"to,omitempty"`
	From      string     `json:"from,omitempty"`
	SDP       string     `json:"sdp,omitempty"`
	Candidate *Candidate `json:"candidate,omitempty"`

	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Ref is the type of the message an error is about.
	Ref string `json:"ref,omitempty"`
}

// Err returns the error an error frame carries, or nil for other frames.
func (m *Message) Err() *Error {
	if m.Type != TypeError {
		return nil
	}
	return &Error{Code: m.Code, Message: m.Message, Ref: m.Ref}
}

// Error is a protocol error: what an error frame carries.
type Error struct {
	Code    string
	Message string
	Ref     string
}

func (e *Error) Error() string { return "signal " + e.Code + ": " + e.Message }

// Frame returns the error as an error frame.
func (e *Error) Frame() Message {
	return Message{Type: TypeError, Code: e.Code, Message: e.Message, Ref: e.Ref}
}

// Errorf builds a protocol error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Relayed reports whether t is a type the server relays between peers.
func Relayed(t string) bool {
	switch t {
	case TypeOffer, TypeAnswer, TypeCandidate, TypeBye:
		return true
	}
	return false
}

// Decode parses and validates one client → server frame of at most max
// bytes (max <= 0: no limit). Unknown fields are ignored; unknown types,
// missing fields and malformed ids are bad_message errors.
func Decode(data []byte, max int) (Message, *Error) {
	if max > 0 && len(data) > max {
		return Message{}, Errorf(CodeTooLarge, "frame of %d bytes exceeds the limit of %d bytes", len(data), max)
	}
	if !utf8.Valid(data) {
		return Message{}, Errorf(CodeBadMessage, "frame is not valid UTF-8")
	}
	// json needs a pointer; a pooled one saves a heap copy per message.
	mp := msgs.Get().(*Message)
	*mp = Message{}
	err := json.Unmarshal(data, mp)
	m := *mp
	*mp = Message{}
	msgs.Put(mp)
	if err != nil {
		return Message{}, Errorf(CodeBadMessage, "frame is not a JSON message object: %s", jsonErr(err))
	}
	if err := m.ValidateClient(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// msgs recycles the Message that Decode and Encode hand to encoding/json.
var msgs = sync.Pool{New: func() any { return new(Message) }}

func jsonErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// ValidateClient checks a client → server message.
func (m *Message) ValidateClient() *Error {
	switch m.Type {
	case "":
		return Errorf(CodeBadMessage, "message has no \"type\"")
	case TypeJoin:
		if m.Room == "" {
			return &Error{Code: CodeBadMessage, Message: "join: missing \"room\"", Ref: m.Type}
		}
		if err := ValidID("room", m.Room); err != nil {
			return &Error{Code: CodeBadMessage, Message: "join: " + err.Error(), Ref: m.Type}
		}
		if m.Peer != "" {
			if err := ValidID("peer", m.Peer); err != nil {
				return &Error{Code: CodeBadMessage, Message: "join: " + err.Error(), Ref: m.Type}
			}
		}
		if m.Resume != "" && m.Peer == "" {
			return &Error{Code: CodeBadMessage, Message: "join: \"resume\" needs \"peer\"", Ref: m.Type}
		}
	case TypeOffer, TypeAnswer:
		if m.SDP == "" {
			return &Error{Code: CodeBadMessage, Message: m.Type + ": missing \"sdp\"", Ref: m.Type}
		}
	case TypeCandidate:
		if m.Candidate == nil {
			return &Error{Code: CodeBadMessage, Message: "candidate: missing \"candidate\"", Ref: m.Type}
		}
	case TypeBye, TypePing:
	default:
		return &Error{Code: CodeBadMessage, Message: fmt.Sprintf("unknown message type %q", clip(m.Type)), Ref: clip(m.Type)}
	}
	if m.To != "" {
		if err := ValidID("to", m.To); err != nil {
			return &Error{Code: CodeBadMessage, Message: m.Type + ": " + err.Error(), Ref: m.Type}
		}
	}
	if m.From != "" {
		return &Error{Code: CodeBadMessage, Message: m.Type + ": \"from\" is set by the server", Ref: m.Type}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// ValidID checks a room or peer id: 1 to 64 characters from A-Z a-z 0-9 and
// "-_.:@".
func ValidID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%q is empty", field)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%q is %d bytes long, at most %d allowed", field, len(id), MaxIDLen)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_.:@", r):
		default:
			return fmt.Errorf("%q %q has character %q; allowed are A-Z a-z 0-9 and -_.:@", field, clip(id), r)
		}
	}
	return nil
}

// Encode marshals a message; it cannot fail for Message values.
func Encode(m Message) []byte {
	mp := msgs.Get().(*Message)
	*mp = m
	b, err := json.Marshal(mp)
	*mp = Message{}
	msgs.Put(mp)
	if err != nil {
		// Unreachable: Message has only strings, slices and pointers to them.
		return []byte(`{"type":"error","code":"bad_message","message":"unencodable message"}`)
	}
	return b
}
