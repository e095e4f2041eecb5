package signalserver_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/signalserver"
)

// Issue 13 #19: the call page coloured "disconnected" green (a regexp
// matched "connected" inside it), and "Hang up" wrapped at 1300 px.
func TestCallPageStatesAndLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium")
	}
	c := memoryHub().instances(t, 1, signalserver.Config{})
	tab := newTab(t, startChromium(t))
	_, err := chromedp.Run(tab, chromedp.EmulateViewport(1300, 900))
	require.NoError(t, err)
	_, err = chromedp.Run(tab, chromedp.Navigate(c.https[0].URL+"/call.html"))
	require.NoError(t, err)

	var classes []string
	require.NoError(t, evalJSON(tab, `["new","checking","connected","completed","disconnected","failed","closed"].map(natkit.stateClass)`, &classes))
	assert.Equal(t, []string{"", "", "ok", "ok", "warn", "bad", "muted"}, classes)

	var heights struct{ Join, Hangup float64 }
	require.NoError(t, evalJSON(tab, `{join: document.querySelector("#join").getBoundingClientRect().height, hangup: document.querySelector("#hangup").getBoundingClientRect().height}`, &heights))
	assert.Greater(t, heights.Hangup, 0.0)
	assert.Equal(t, heights.Join, heights.Hangup, "Hang up stays on one line, as tall as Join")
	screenshot(t, tab, "call-1300px")
}

// Issue 13 #19 and #6: the gather page's relay-protocol column was empty,
// and the call page gave no cause when the relay's peer policy refused the
// peers (403 to CreatePermission).
func TestGatherRelayProtocolAndCallRefusedByPeerPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium")
	}
	const secret = "policy-secret"
	// Like natkit relay's defaults: loopback peers refused.
	port := externaltest.FreePort(t, "127.0.0.1")
	srv, err := relay.New(relay.Config{
		Listen:     []relay.Listener{{Network: relay.NetworkUDP, Addr: fmt.Sprintf("127.0.0.1:%d", port)}},
		Secrets:    []string{secret},
		PeerPolicy: relay.PeerPolicy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	turnURL := fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port)
	c := memoryHub().instances(t, 1, signalserver.Config{TURNSecrets: []string{secret}, TURNURLs: []string{turnURL}})
	browser := startChromium(t)

	t.Run("gather", func(t *testing.T) {
		tab := newTab(t, browser)
		_, err := chromedp.Run(tab, chromedp.Navigate(c.https[0].URL+"/gather.html?auto=1&timeout=8"))
		require.NoError(t, err)
		var s struct {
			State      string `json:"state"`
			Candidates []struct {
				Type          string `json:"type"`
				RelayProtocol string `json:"relayProtocol"`
			} `json:"candidates"`
		}
		require.NoError(t, externaltest.WaitFor(20*time.Second, func() bool {
			return evalJSON(tab, "window.natkitGather", &s) == nil && (s.State == "done" || s.State == "error")
		}))
		screenshot(t, tab, "gather-relay-protocol")
		relays := 0
		for _, cand := range s.Candidates {
			if cand.Type == "relay" {
				relays++
				assert.Equal(t, "udp", cand.RelayProtocol)
			}
		}
		require.Positive(t, relays, "a relay candidate")
		var cells []string
		require.NoError(t, evalJSON(tab, `[...document.querySelectorAll("#candidates tr[data-type=relay] td.relay-protocol")].map(td => td.textContent)`, &cells))
		require.NotEmpty(t, cells)
		for _, cell := range cells {
			assert.Equal(t, "udp", cell, "the table's relay-protocol column")
		}
	})

	t.Run("call refused by the peer policy", func(t *testing.T) {
		tabs := []context.Context{newTab(t, browser), newTab(t, browser)}
		for i, tab := range tabs {
			_, err := chromedp.Run(tab, chromedp.Navigate(c.https[0].URL+"/call.html?room=refused&relay=1&media=0&auto=1"))
			require.NoError(t, err, "tab %d", i)
			require.NoError(t, waitFor(tab, 10*time.Second, func(s callState) bool { return s.Signaling == "joined" }), "tab %d joins", i)
		}
		var cause string
		err := externaltest.WaitFor(60*time.Second, func() bool {
			return evalJSON(tabs[0], "window.natkitCall.cause", &cause) == nil && cause != ""
		})
		screenshot(t, tabs[0], "call-refused")
		require.NoError(t, err, "the page names a cause once ICE fails")
		assert.Contains(t, cause, "403 Forbidden")
		assert.Contains(t, cause, "127.0.0.1:")
		assert.Contains(t, cause, "--allow-peer 127.0.0.0/8")
		var shown string
		require.NoError(t, evalJSON(tabs[0], `document.querySelector("#cause").textContent`, &shown))
		assert.Equal(t, cause, shown)
	})
}
