package relay

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// Auth failure reasons (natkit_relay_auth_failures_total{reason}).
const (
	ReasonUnknownUser       = "unknown_user"
	ReasonWrongPassword     = "wrong_password"
	ReasonExpired           = "expired"
	ReasonMalformedUsername = "malformed_username"
	ReasonWrongRealm        = "wrong_realm"
	// ReasonExpiryTooFar is a REST username whose expiry lies further
	// ahead than Config.MaxRESTTTL.
	ReasonExpiryTooFar = "expiry_too_far"
)

// authenticator holds static users and REST secrets. It answers with every
// key a username may be signed with (one per secret), and remembers which
// key verified, for pion's AuthHandler that can return only one.
type authenticator struct {
	realm    string
	users    map[string][]byte // name → long-term key
	restAuth []turn.AuthHandler
	maxTTL   time.Duration // REST expiries further ahead are refused

	mu       sync.Mutex
	verified map[string][]byte // username → key that verified last
}

const maxVerifiedCache = 100000

func newAuthenticator(realm string, users map[string]string, secrets []string, maxTTL time.Duration,
	log logging.LeveledLogger,
) *authenticator {
	a := &authenticator{realm: realm, users: map[string][]byte{}, verified: map[string][]byte{}, maxTTL: maxTTL}
	for name, pass := range users {
		a.users[name] = turn.GenerateAuthKey(name, realm, pass)
	}
	for _, s := range secrets {
		a.restAuth = append(a.restAuth, turn.LongTermTURNRESTAuthHandler(s, log))
	}
	return a
}

// keys returns the candidate keys for username in realm, or the reason
// there are none.
func (a *authenticator) keys(username, realm string) ([][]byte, string) {
	if realm != a.realm {
		return nil, ReasonWrongRealm
	}
	if k, ok := a.users[username]; ok {
		return [][]byte{k}, ""
	}
	if len(a.restAuth) == 0 {
		return nil, ReasonUnknownUser
	}
	// REST usernames are "expiry" or "expiry:user". Classify failures
	// here; pion's handler computes the key.
	ts, _, _ := strings.Cut(username, ":")
	exp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		if len(a.users) > 0 {
			return nil, ReasonUnknownUser
		}
		return nil, ReasonMalformedUsername
	}
	now := time.Now()
	if exp < now.Unix() {
		return nil, ReasonExpired
	}
	if exp > now.Add(a.maxTTL).Unix() {
		return nil, ReasonExpiryTooFar
	}
	keys := make([][]byte, 0, len(a.restAuth))
	for _, h := range a.restAuth {
		if k, ok := h(username, realm, nil); ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, ReasonExpired
	}
	return keys, ""
}

func (a *authenticator) remember(username string, key []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.verified) >= maxVerifiedCache {
		clear(a.verified)
	}
	a.verified[username] = key
}

// pionHandler is the turn.AuthHandler given to pion. The interceptor has
// already verified the request, so it returns the key that verified.
func (a *authenticator) pionHandler(username, realm string, _ any) ([]byte, bool) {
	a.mu.Lock()
	k, ok := a.verified[username]
	a.mu.Unlock()
	if ok {
		return k, true
	}
	keys, _ := a.keys(username, realm)
	if len(keys) == 0 {
		return nil, false
	}
	return keys[0], true
}

// quotaKey is the identity quotas count against: the user part of a REST
// username (so rotating credentials does not reset the quota), else the
// username.
func quotaKey(username string) string {
	ts, user, ok := strings.Cut(username, ":")
	if !ok {
		return username
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return username
	}
	return user
}
