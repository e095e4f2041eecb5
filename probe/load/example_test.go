package load_test

import (
	"context"
	"fmt"
	"time"

	"github.com/natkit/natkit/probe/load"
	"github.com/natkit/natkit/relay"
)

// Allocation load against natkit's relay on loopback, judged against the
// default SLO.
func Example() {
	srv, err := relay.New(relay.Config{
		Listen: []relay.Listener{{Network: relay.NetworkUDP, Addr: "127.0.0.1:0"}},
		Users:  map[string]string{"alice": "wonderland"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	res, err := load.Run(context.Background(), load.Config{
		Server: srv.Addrs()[0].Addr, Username: "alice", Password: "wonderland",
		Allocations: 4, Rate: 50, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep := res.Report(load.DefaultSLO())
	fmt.Println(res.Cause, "with", res.AllocationsFailed, "failed allocations")
	fmt.Println("verdict:", rep.Verdict)
	// Output:
	// completed with 0 failed allocations
	// verdict: pass
}
