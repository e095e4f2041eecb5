package iceconfig

import (
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v4"
)

// DefaultRESTUser is the user part of minted REST usernames when none is
// given.
const DefaultRESTUser = "natkit"

// DefaultRESTTTL is the lifetime of minted REST credentials when none is
// given (coturn's and the TURN REST API draft's usual 24 h).
const DefaultRESTTTL = 24 * time.Hour

// MintREST mints TURN REST API credentials from a shared secret, as
// coturn's use-auth-secret and natkit's relay expect: the username is
// "expiry:user" (expiry in Unix seconds, now + ttl) and the password is
// base64(HMAC-SHA1(secret, username)). An empty user becomes
// DefaultRESTUser; a zero ttl DefaultRESTTTL. A negative ttl mints
// already-expired credentials, which tests use.
func MintREST(secret, user string, ttl time.Duration) (username, password string, err error) {
	if secret == "" {
		return "", "", fieldErr("--secret", "", "", "%w: the shared secret is empty", ErrSecret)
	}
	if user == "" {
		user = DefaultRESTUser
	}
	if ttl == 0 {
		ttl = DefaultRESTTTL
	}
	return turn.GenerateLongTermTURNRESTCredentials(secret, user, ttl)
}

// RESTExpiry extracts the expiry time of a TURN REST username
// ("1700000000:alice" or "1700000000"). ok is false for usernames that are
// not in that form; a leading number is taken as a Unix time only when it
// has 9 to 11 digits, so that static numeric usernames are rarely mistaken.
func RESTExpiry(username string) (expiry time.Time, ok bool) {
	ts, _, _ := strings.Cut(username, ":")
	if len(ts) < 9 || len(ts) > 11 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}
