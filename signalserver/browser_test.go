package signalserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
	"github.com/natkit/natkit/relay"
	"github.com/natkit/natkit/signalserver"
)

// startChromium starts headless Chromium and returns its browser context.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	bin := externaltest.LookPath(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	require.NoError(t, chromedp.Do(bctx), "start chromium")
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// newTab opens a tab in a fresh browser context (its own cookies/storage).
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return ctx
}

// screenshot saves the page to $NATKIT_SCREENSHOT_DIR/name.png when set.
func screenshot(t *testing.T, tab context.Context, name string) {
	dir := os.Getenv("NATKIT_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot %s", path)
}

// evalJSON evaluates a JS expression and decodes its JSON value into v.
func evalJSON(tab context.Context, expr string, v any) error {
	s, err := chromedp.Run(tab, chromedp.Evaluate[string]("JSON.stringify("+expr+")"))
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), v)
}

// startRelay runs natkit relay on 127.0.0.1 with a REST secret; loopback
// peers are allowed because both browsers' relayed addresses are there.
func startRelay(t *testing.T, secret string) string {
	t.Helper()
	port := externaltest.FreePort(t, "127.0.0.1")
	srv, err := relay.New(relay.Config{
		Listen:     []relay.Listener{{Network: relay.NetworkUDP, Addr: fmt.Sprintf("127.0.0.1:%d", port)}},
		Secrets:    []string{secret},
		PeerPolicy: relay.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port)
}

type callState struct {
	Signaling  string `json:"signaling"`
	Connection string `json:"connection"`
	Me         string `json:"me"`
	Peer       string `json:"peer"`
	Pair       *struct {
		LocalType     string `json:"localType"`
		RemoteType    string `json:"remoteType"`
		Protocol      string `json:"protocol"`
		Relayed       bool   `json:"relayed"`
		RelayProtocol string `json:"relayProtocol"`
	} `json:"pair"`
	RTT        *float64 `json:"rtt"`
	DCReceived int      `json:"dcReceived"`
	Errors     []string `json:"errors"`
}

// TestBrowserCallThroughRelay: two Chromium tabs open the call page, join
// a room, and connect through natkit relay with the relay-only policy; the
// selected pair must be relayed and data must flow both ways. With the
// Redis hub the two tabs use two signal instances.
func TestBrowserCallThroughRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium")
	}
	const secret = "browser-test-secret"
	turnURL := startRelay(t, secret)
	browser := startChromium(t)
	for _, hk := range hubKinds() {
		t.Run(hk.name, func(t *testing.T) {
			c := hk.instances(t, 2, signalserver.Config{TURNSecrets: []string{secret}, TURNURLs: []string{turnURL}})
			tabs := []context.Context{newTab(t, browser), newTab(t, browser)}
			for i, tab := range tabs {
				page := c.https[i%len(c.https)].URL + "/call.html?room=browser1&relay=1&auto=1"
				require.NoError(t, chromedp.Do(tab, chromedp.Navigate(page)), "tab %d", i)
				require.NoError(t, waitFor(tab, 10*time.Second, func(s callState) bool { return s.Signaling == "joined" }), "tab %d joins", i)
			}
			var states [2]callState
			err := externaltest.WaitFor(45*time.Second, func() bool {
				for i, tab := range tabs {
					if evalJSON(tab, "window.natkitCall", &states[i]) != nil {
						return false
					}
				}
				for _, s := range states {
					if s.Pair == nil || s.Connection != "connected" || s.DCReceived < 4 || s.RTT == nil {
						return false
					}
				}
				return true
			})
			for i, tab := range tabs {
				screenshot(t, tab, fmt.Sprintf("call-%s-tab%d", hk.name, i+1))
			}
			require.NoError(t, err, "call did not connect with data flowing: %+v / %+v", states[0], states[1])
			for i, s := range states {
				require.Equal(t, "relay", s.Pair.LocalType, "tab %d local candidate", i)
				require.True(t, s.Pair.Relayed, "tab %d", i)
				require.Equal(t, "udp", s.Pair.RelayProtocol, "tab %d", i)
				require.Empty(t, s.Errors, "tab %d", i)
				t.Logf("tab %d: %s/%s over %s, ICE RTT %.1f ms, %d data-channel messages", i+1, s.Pair.LocalType, s.Pair.RemoteType, s.Pair.Protocol, *s.RTT, s.DCReceived)
			}
			require.Equal(t, states[0].Me, states[1].Peer)
			require.Equal(t, states[1].Me, states[0].Peer)
		})
	}
}

func waitFor(tab context.Context, d time.Duration, cond func(callState) bool) error {
	return externaltest.WaitFor(d, func() bool {
		var s callState
		return evalJSON(tab, "window.natkitCall", &s) == nil && cond(s)
	})
}

type gatherState struct {
	State      string `json:"state"`
	Error      string `json:"error"`
	Candidates []struct {
		Type string `json:"type"`
	} `json:"candidates"`
	Verdicts []struct {
		URL       string `json:"url"`
		OK        bool   `json:"ok"`
		Cause     string `json:"cause"`
		Diagnosis string `json:"diagnosis"`
	} `json:"verdicts"`
}

// TestBrowserGatherPage: good credentials from the token endpoint give a
// relay candidate; wrong ones the 401 verdict.
func TestBrowserGatherPage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium")
	}
	const secret = "gather-secret"
	turnURL := startRelay(t, secret)
	c := memoryHub().instances(t, 1, signalserver.Config{TURNSecrets: []string{secret}, TURNURLs: []string{turnURL}})
	browser := startChromium(t)
	bad, err := json.Marshal(map[string]any{"iceServers": []map[string]any{{"urls": []string{turnURL}, "username": "4102444800:eve", "credential": "wrong"}}})
	require.NoError(t, err)
	cases := []struct {
		name, query, cause string
		relay              bool
	}{
		{name: "token endpoint", query: "auto=1&timeout=8", cause: "turn-ok", relay: true},
		{name: "wrong credential", query: "auto=1&timeout=5&servers=" + url.QueryEscape(string(bad)), cause: "401-unauthorized"},
	}
	t.Run("index", func(t *testing.T) {
		tab := newTab(t, browser)
		require.NoError(t, chromedp.Do(tab, chromedp.Navigate(c.https[0].URL+"/")))
		links, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("a")].map(a => a.getAttribute("href"))`))
		require.NoError(t, err)
		require.Subset(t, links, []string{"gather.html", "call.html", "v1/ice-servers", "healthz", "metrics"})
		screenshot(t, tab, "index")
	})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab := newTab(t, browser)
			require.NoError(t, chromedp.Do(tab, chromedp.Navigate(c.https[0].URL+"/gather.html?"+tc.query)))
			var s gatherState
			err := externaltest.WaitFor(20*time.Second, func() bool {
				return evalJSON(tab, "window.natkitGather", &s) == nil && (s.State == "done" || s.State == "error")
			})
			screenshot(t, tab, fmt.Sprintf("gather-%d", i+1))
			require.NoError(t, err, "gather did not finish: %+v", s)
			require.Equal(t, "done", s.State, s.Error)
			require.Len(t, s.Verdicts, 1)
			v := s.Verdicts[0]
			require.Equal(t, turnURL, v.URL)
			require.Equal(t, tc.cause, v.Cause, v.Diagnosis)
			require.Equal(t, tc.relay, v.OK)
			hasRelay := false
			for _, c := range s.Candidates {
				hasRelay = hasRelay || c.Type == "relay"
			}
			require.Equal(t, tc.relay, hasRelay)
			t.Logf("%s: %s", tc.name, v.Diagnosis)
		})
	}
}
