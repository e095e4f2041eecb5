package signalserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// RoomClaims are the claims of a room token (an HS256 JWT).
type RoomClaims struct {
	// Room the token admits to (claim "room").
	Room string `json:"room"`
	// Peer, when set, is the only peer id the holder may use (claim "sub").
	Peer string `json:"sub,omitempty"`
	// Expiry in Unix seconds (claim "exp"), required.
	Expiry int64 `json:"exp"`
}

var b64 = base64.RawURLEncoding

const jwtHeader = `{"alg":"HS256","typ":"JWT"}`

// NewRoomToken signs claims as an HS256 JWT with secret: what an
// application backend hands its users when the server runs with
// --auth-secret.
func NewRoomToken(secret string, c RoomClaims) (string, error) {
	if secret == "" {
		return "", fmt.Errorf("%w: empty secret", ErrBadToken)
	}
	if c.Room == "" || c.Expiry == 0 {
		return "", fmt.Errorf("%w: room and expiry are required", ErrBadToken)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	signing := b64.EncodeToString([]byte(jwtHeader)) + "." + b64.EncodeToString(payload)
	return signing + "." + b64.EncodeToString(sign(secret, signing)), nil
}

func sign(secret, s string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return m.Sum(nil)
}

// VerifyRoomToken checks an HS256 JWT room token and returns its claims.
func VerifyRoomToken(secret, token string, now time.Time) (RoomClaims, error) {
	var c RoomClaims
	if token == "" {
		return c, fmt.Errorf("%w: the room needs a token and none was given", ErrBadToken)
	}
	if len(token) > 4096 {
		return c, fmt.Errorf("%w: %d bytes long", ErrBadToken, len(token))
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, fmt.Errorf("%w: want a JWT of 3 dot-separated parts, got %d", ErrBadToken, len(parts))
	}
	hdr, err := b64.DecodeString(parts[0])
	if err != nil {
		return c, fmt.Errorf("%w: header is not base64url", ErrBadToken)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hdr, &h) != nil || h.Alg != "HS256" {
		return c, fmt.Errorf("%w: header alg must be HS256", ErrBadToken)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return c, fmt.Errorf("%w: signature is not base64url", ErrBadToken)
	}
	if !hmac.Equal(sig, sign(secret, parts[0]+"."+parts[1])) {
		return c, fmt.Errorf("%w: signature does not match the server's auth secret", ErrBadToken)
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, fmt.Errorf("%w: payload is not base64url", ErrBadToken)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return RoomClaims{}, fmt.Errorf("%w: payload is not a JSON claims object", ErrBadToken)
	}
	if c.Room == "" {
		return RoomClaims{}, fmt.Errorf("%w: claim \"room\" is missing", ErrBadToken)
	}
	if c.Expiry == 0 {
		return RoomClaims{}, fmt.Errorf("%w: claim \"exp\" is missing", ErrBadToken)
	}
	if now.Unix() >= c.Expiry {
		return RoomClaims{}, fmt.Errorf("%w: expired at %s", ErrBadToken, time.Unix(c.Expiry, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}
