package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/natkit/natkit/signalserver"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

// Two peers meet in a room; the caller sends an offer, the callee answers.
func ExampleDial() {
	srv, err := signalserver.NewServer(signalserver.Config{})
	if err != nil {
		panic(err)
	}
	hs := httptest.NewServer(srv)
	defer func() { hs.Close(); _ = srv.Close() }()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caller, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer caller.Close()
	callee, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer callee.Close()

	if _, err := callee.Join(ctx, "demo", client.JoinOptions{Peer: "callee"}); err != nil {
		panic(err)
	}
	joined, err := caller.Join(ctx, "demo", client.JoinOptions{Peer: "caller"})
	if err != nil {
		panic(err)
	}
	fmt.Println("caller sees", joined.Peers)

	_ = caller.SendOffer(ctx, "callee", "v=0 (offer)")
	offer, _ := callee.RecvType(ctx, protocol.TypeOffer)
	fmt.Println("callee got", offer.Type, "from", offer.From)

	_ = callee.SendAnswer(ctx, offer.From, "v=0 (answer)")
	answer, _ := caller.RecvType(ctx, protocol.TypeAnswer)
	fmt.Println("caller got", answer.Type, "from", answer.From)

	_ = caller.SendCandidate(ctx, "callee", protocol.Candidate{Candidate: "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host"})
	cand, _ := callee.RecvType(ctx, protocol.TypeCandidate)
	fmt.Println("callee got", cand.Candidate.Candidate)

	// Output:
	// caller sees [callee]
	// callee got offer from caller
	// caller got answer from callee
	// callee got candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host
}
