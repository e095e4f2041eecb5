package natbehavior_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v3/vnet"

	"github.com/natkit/natkit/probe/natbehavior"
	"github.com/natkit/natkit/relay"
)

// Classify a NAT in pion's virtual network: a client behind an
// endpoint-independent-mapping, address-and-port-dependent-filtering NAT,
// and natkit's relay as an RFC 5780 STUN server on two addresses.
func Example() {
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	wan, _ := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf})
	serverNet, _ := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4", "1.2.3.5"}})
	_ = wan.AddNet(serverNet)
	lan, _ := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.20"}, LoggerFactory: lf,
		NATType: &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent}})
	_ = wan.AddRouter(lan)
	clientNet, _ := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.0.0.2"}})
	_ = lan.AddNet(clientNet)
	if err := wan.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer wan.Stop() //nolint:errcheck // example

	srv, err := relay.New(relay.Config{Net: serverNet, Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: "1.2.3.4:3478"}},
		AltIP: net.ParseIP("1.2.3.5"), Users: map[string]string{"u": "p"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	res, err := natbehavior.Run(context.Background(), natbehavior.Config{Net: clientNet, Server: "1.2.3.4:3478",
		Retransmit: natbehavior.Retransmit{RTO: 50 * time.Millisecond, Budget: 300 * time.Millisecond}})
	if err != nil {
		fmt.Println(err)
		return
	}
	host, _, _ := net.SplitHostPort(res.Public)
	fmt.Println(res.Cause)
	fmt.Println("mapping", res.Mapping, "filtering", res.Filtering+":", res.Classic)
	fmt.Println("public address", host)
	// Output:
	// classified
	// mapping EIM filtering APDF: port restricted cone
	// public address 1.2.3.20
}
