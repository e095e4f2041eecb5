package natbehavior

import (
	"context"
	"fmt"
	"net"
)

// Clash is the result of the peer-first test. A NAT may keep one mapping
// for every destination (EIM) as long as we speak first, yet change it when
// a packet from a new address arrives before ours: Linux masquerade without
// an input firewall accepts that packet for the router itself, conntrack
// commits it, and our own later packet to that address clashes with it and
// is given a new port. Towards such a peer the NAT is symmetric, which is
// what a peer's first ICE check does.
type Clash struct {
	// Changes is true when the mapping towards the alternate address
	// differed from the mapping towards the server after the alternate
	// address had sent to it first.
	Changes bool `json:"changes"`
	// Before is the mapping the server saw; After the one the alternate
	// address saw once it had sent first.
	Before string `json:"before"`
	After  string `json:"after,omitempty"`
	// PeerPacketArrived is true when the alternate address's packet came
	// through the NAT to the socket (an endpoint-independent filter).
	PeerPacketArrived bool   `json:"peer_packet_arrived"`
	Note              string `json:"note,omitempty"`
}

// ClashAdvice is the call advice for a NAT whose mapping changes when a
// peer's packet arrives first.
const ClashAdvice = "mapping changes when a peer's packet arrives first: your NAT keeps your public port only while you speak first (Linux masquerade without an input firewall), so towards a peer whose check arrives first it behaves like a symmetric NAT: a peer behind the same kind of NAT or a symmetric one will need TURN to reach you, and one behind a port-restricted cone may (whose first check arrives first decides); an input firewall that drops unsolicited packets (as home routers have) fixes it"

// clash runs the peer-first test on a fresh socket: map towards the
// server, have the server answer from its alternate address and port
// (CHANGE-REQUEST) so that the alternate address sends to our public
// address first, then send to the alternate address ourselves and compare
// the mappings. It runs only for endpoint-independent mappings, where a
// change means something.
func (p *prober) clash(ctx context.Context, other *net.UDPAddr) {
	c, err := p.open("0")
	if err != nil {
		p.note("clash test not run: %v", err)
		return
	}
	defer c.Close()
	cl := &Clash{}
	r1, err := p.binding(ctx, c, "clash: map", p.server, 0)
	if err != nil {
		p.note("clash test not run: %s did not answer: %v", p.server, err)
		return
	}
	cl.Before = r1.Mapped.String()
	p.res.Clash = cl
	// The answer to this request is the peer's first packet. Wait only a
	// couple of RTOs for it: behind a filtering NAT it never arrives.
	wait := min(2*p.cfg.Retransmit.RTO, p.cfg.Retransmit.Budget)
	pctx, cancel := context.WithTimeout(ctx, wait)
	_, err = p.binding(pctx, c, "clash: peer first", p.server, ChangeIP|ChangePort)
	cancel()
	cl.PeerPacketArrived = err == nil
	if ctx.Err() != nil {
		cl.Note = "interrupted"
		return
	}
	r3, err := p.binding(ctx, c, "clash: reply to peer", other, 0)
	if err != nil {
		cl.Note = fmt.Sprintf("the alternate address %s did not answer: %v", other, err)
		return
	}
	cl.After = r3.Mapped.String()
	cl.Changes = !sameAddr(r1.Mapped, r3.Mapped)
	if cl.Changes {
		p.note("mapping changes when a peer's packet arrives first: %s towards %s, then %s towards %s, which had sent to it first", cl.Before, p.server, cl.After, other)
	}
}

// Describe says what the clash test found, in a report row.
func (c *Clash) Describe() string {
	switch {
	case c.Changes:
		return fmt.Sprintf("mapping changes when a peer's packet arrives first (%s, then %s)", c.Before, c.After)
	case c.After == "":
		return "not determined: " + c.Note
	}
	return "mapping kept (" + c.Before + ")"
}

// clashImplications is the advice the clash test adds.
func clashImplications(c *Clash) []string {
	if c == nil || !c.Changes {
		return nil
	}
	return []string{ClashAdvice}
}
