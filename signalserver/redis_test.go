package signalserver_test

import (
	"testing"

	"github.com/natkit/natkit/signalserver"
)

func redisHub() hubKind {
	return hubKind{name: "redis", instances: func(t *testing.T, n int, cfg signalserver.Config) *cluster {
		t.Skip("redis hub not built yet")
		return nil
	}}
}
