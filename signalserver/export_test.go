package signalserver

// CrashHub stops a Redis hub as if its process died (tests only).
func CrashHub(h Hub) { h.(*redisHub).crash() }
