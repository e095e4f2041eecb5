package gather_test

import (
	"context"
	"fmt"
	"time"

	"github.com/natkit/natkit/probe/gather"
	"github.com/natkit/natkit/relay"
)

// Gather through natkit's own relay on loopback: the relay hands out its
// ICE servers as iceconfig.Servers, which gather takes as they are.
func Example() {
	srv, err := relay.New(relay.Config{
		Listen:  []relay.Listener{{Network: relay.NetworkUDP, Addr: "127.0.0.1:0"}},
		Secrets: []string{"example-secret"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	servers, err := srv.ICEServers("example", time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}

	res, err := gather.Run(context.Background(), gather.Config{Servers: servers, Policy: gather.PolicyRelay, Timeout: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range res.Servers {
		fmt.Println(s.Scheme, s.Cause)
	}
	fmt.Println("relay candidate:", res.HasCandidate(gather.TypeRelay))
	rep := res.Report(gather.TypeRelay)
	fmt.Println("verdict:", rep.Verdict)
	// Output:
	// stun stun-ok
	// turn turn-ok
	// relay candidate: true
	// verdict: pass
}
