package browser

import (
	"log/slog"
	"time"
)

// Config says how to launch one browser.
type Config struct {
	// ExecPath is the Chromium binary. Default: "chromium" on PATH.
	ExecPath string
	// Namespace is the network namespace (a name in `ip netns list`) the
	// browser runs in, through `ip netns exec`. Default "": the current one.
	Namespace string
	// Flags are extra command-line flags, "--name" or "--name=value", after
	// natkit's own (Flags reports them all). Default none.
	Flags []string
	// HideLocalIPs keeps Chromium's mDNS (.local) host candidates. Default
	// false: host candidates carry their address, which natkit's pion peers
	// need (they do not resolve mDNS).
	HideLocalIPs bool
	// StartTimeout bounds the launch until DevTools answers. Default 120s:
	// on a 2-core machine at load 50 a start has taken 48s. A browser that
	// cannot start exits at once, so only a hung one waits this long.
	StartTimeout time.Duration
	// Logger receives the browser's lifecycle. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.ExecPath == "" {
		c.ExecPath = "chromium"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 120 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.StartTimeout < 0 {
		return configErrorf("start timeout", "", "must not be negative")
	}
	for _, f := range c.Flags {
		if len(f) < 3 || f[:2] != "--" {
			return configErrorf("flags", f, "want --name or --name=value")
		}
	}
	return nil
}

// PeerConfig says how a browser places its side of a call.
type PeerConfig struct {
	// Name names the peer in the timeline, e.g. "a". Required.
	Name string
	// PageURL is natkit signal's automated peer page, e.g.
	// http://203.0.113.1:443/peer.html. Required.
	PageURL string
	// Room is the signaling room. Required.
	Room string
	// Role is "offer" or "answer". Required.
	Role string
	// ICEServers are given to RTCPeerConnection as they are (the JSON
	// shape of RTCIceServer). Default nil: the page asks the server's
	// token endpoint (/v1/ice-servers).
	ICEServers []ICEServer
	// RelayOnly sets iceTransportPolicy "relay". Default false.
	RelayOnly bool
	// PageTimeout bounds loading the page. Default 10s.
	PageTimeout time.Duration
}

// ICEServer is an RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

func (c PeerConfig) withDefaults() PeerConfig {
	if c.PageTimeout == 0 {
		c.PageTimeout = 10 * time.Second
	}
	return c
}

func (c PeerConfig) validate() error {
	switch {
	case c.Name == "":
		return configErrorf("name", "", "is required")
	case c.PageURL == "":
		return configErrorf("page url", "", "is required")
	case c.Room == "":
		return configErrorf("room", "", "is required")
	case c.Role != RoleOffer && c.Role != RoleAnswer:
		return configErrorf("role", c.Role, "want offer or answer")
	case c.PageTimeout < 0:
		return configErrorf("page timeout", "", "must not be negative")
	}
	return nil
}

// Roles of PeerConfig.
const (
	RoleOffer  = "offer"
	RoleAnswer = "answer"
)
