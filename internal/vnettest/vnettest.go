// Package vnettest builds the small pion vnet topology that probe tests
// share: a WAN 1.2.3.0/24 with a server host on 1.2.3.4 and 1.2.3.5 (a
// second address for RFC 5780), and a client on the WAN or behind a NAT.
package vnettest

import (
	"testing"

	"github.com/pion/logging"
	"github.com/pion/transport/v3/vnet"
)

// Addresses of the topology.
const (
	ServerIP    = "1.2.3.4"
	ServerAltIP = "1.2.3.5"
	// ClientWANIP is the client's address when it has no NAT.
	ClientWANIP = "1.2.3.10"
	// NATPublicIP is the NAT's WAN address; the client is 10.0.0.2 behind it.
	NATPublicIP = "1.2.3.20"
)

// Topology is a started WAN with a server and a client host.
type Topology struct {
	Client, Server *vnet.Net
}

// ClientServer builds and starts the topology with the client behind nat
// (nil: on the WAN itself); it stops in t.Cleanup.
func ClientServer(t testing.TB, nat *vnet.NATType) *Topology {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("build vnet topology: %v", err)
		}
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf})
	must(err)
	srv, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ServerIP, ServerAltIP}})
	must(err)
	must(wan.AddNet(srv))
	var client *vnet.Net
	if nat == nil {
		client, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ClientWANIP}})
		must(err)
		must(wan.AddNet(client))
	} else {
		public := NATPublicIP
		if nat.Mode == vnet.NATModeNAT1To1 {
			public += "/10.0.0.2" // 1:1 NAT maps this public address to the host
		}
		lan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", StaticIPs: []string{public}, NATType: nat, LoggerFactory: lf})
		must(err)
		must(wan.AddRouter(lan))
		client, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.0.0.2"}})
		must(err)
		must(lan.AddNet(client))
	}
	must(wan.Start())
	t.Cleanup(func() { _ = wan.Stop() })
	return &Topology{Client: client, Server: srv}
}
