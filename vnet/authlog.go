package vnet

import (
	"context"
	"log/slog"
	"net"
)

// refusedMsg is the message natkit's relay logs (at info) for every
// request whose credentials it refuses with 401, with the attributes
// reason, user and client.
const refusedMsg = "relay: refused credentials"

// authLog is an slog.Handler for the relay's logger: it turns "refused
// credentials" records into AuthFailures and passes every record on to
// next (which may be nil: discard).
type authLog struct {
	t    *Topology
	next slog.Handler
}

func (h *authLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || (h.next != nil && h.next.Enabled(ctx, l))
}

func (h *authLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == refusedMsg {
		var user, client, reason string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "user":
				user = a.Value.String()
			case "client":
				client = a.Value.String()
			case "reason":
				reason = a.Value.String()
			}
			return true
		})
		h.t.recordAuthFailure(user, client, reason)
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *authLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	if h.next != nil {
		c.next = h.next.WithAttrs(as)
	}
	return &c
}

func (h *authLog) WithGroup(name string) slog.Handler {
	c := *h
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}

func sideOf(t *Topology, addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	ip := net.ParseIP(host)
	for name, sd := range t.sides {
		if ip.Equal(sd.public) {
			return name
		}
	}
	return ""
}
