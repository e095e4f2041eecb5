package relay_test

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/turn/v4"

	"github.com/natkit/natkit/relay"
)

// A relay on a free loopback port, and a pion TURN client allocating on it
// with TURN REST credentials minted from the relay's shared secret.
func Example() {
	srv, err := relay.New(relay.Config{
		Listen:  []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}},
		Secrets: []string{"my-shared-secret"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	addr := srv.Addrs()[0].Addr
	user, pass, _ := turn.GenerateLongTermTURNRESTCredentials("my-shared-secret", "alice", time.Hour)
	conn, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer conn.Close()
	client, _ := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: addr, STUNServerAddr: addr,
		Username: user, Password: pass, Realm: relay.DefaultRealm, Conn: conn,
	})
	defer client.Close()
	_ = client.Listen()
	relayed, err := client.Allocate()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer relayed.Close()
	fmt.Println("relayed address on", relayed.LocalAddr().(*net.UDPAddr).IP)
	fmt.Println("active allocations:", srv.Stats().ActiveAllocations)
	// Output:
	// relayed address on 127.0.0.1
	// active allocations: 1
}
