// Package browser drives headless Chromium as a call peer: it launches one
// browser (inside a network namespace when asked, through `ip netns exec`),
// drives natkit signal's automated peer page (peer.html) with chromedp, and
// reads the call back from the page's own timestamps and getStats(): time to
// the first candidate, srflx and relay candidates, to ICE connected and the
// first data-channel message, the selected pair and its RTT.
//
// A browser runs in its own process group and Close kills that group by the
// PID it started, so no Chromium outlives the run, Ctrl-C included.
package browser
