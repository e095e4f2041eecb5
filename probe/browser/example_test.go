package browser_test

import (
	"context"
	"fmt"
	"time"

	"github.com/natkit/natkit/probe/browser"
	"github.com/natkit/natkit/probe/call"
)

// A browser placing the offering side of a call through a natkit signal
// server (natkit signal serves peer.html); the other side is any peer of
// the same room: another browser, natkit call --role answer, a pion peer.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := browser.Launch(ctx, browser.Config{}) // Namespace: "…" to run it inside a netns
	if err != nil {
		fmt.Println(err) // e.g. "chromium not found: … (install with: apt-get install chromium)"
		return
	}
	defer b.Close()
	p, err := b.Open(ctx, browser.PeerConfig{Name: "a", PageURL: "http://127.0.0.1:8080/peer.html", Room: "demo", Role: browser.RoleOffer})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := p.WaitConnected(ctx); err == nil {
		_ = p.Probe(ctx, call.ProbeConfig{Count: 10})
		_ = p.HangUp(ctx)
	}
	r := p.Result(ctx)
	fmt.Println(r.Summary())
	for _, m := range r.Metrics("") {
		fmt.Println(m.Name, m.P50, m.Unit)
	}
}
