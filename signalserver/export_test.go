package signalserver

import "testing"

// CrashHub stops a Redis hub as if its process died (tests only).
func CrashHub(h Hub) { h.(*redisHub).crash() }

// StartRedis runs redis-server for a test and returns its URL.
func StartRedis(t *testing.T) string { return "redis://" + startTestRedis(t) }
