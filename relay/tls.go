package relay

import (
	"crypto/tls"
	"net"
)

func tlsListener(inner net.Listener, cfg *tls.Config) net.Listener {
	return tls.NewListener(inner, cfg)
}
