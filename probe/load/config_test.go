package load

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTURNURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Target
		wantErr string
	}{
		{in: "turn:127.0.0.1:3478", want: Target{Host: "127.0.0.1", Port: 3478, Transport: "udp"}},
		{in: "turn:relay.example.com", want: Target{Host: "relay.example.com", Port: 3478, Transport: "udp"}},
		{in: "turn:h:5000?transport=tcp", want: Target{Host: "h", Port: 5000, Transport: "tcp"}},
		{in: "TURN:h:1?transport=UDP", want: Target{Host: "h", Port: 1, Transport: "udp"}},
		{in: "turn:[::1]:3478", want: Target{Host: "::1", Port: 3478, Transport: "udp"}},
		{in: "turn:[::1]", want: Target{Host: "::1", Port: 3478, Transport: "udp"}},
		{in: "turns:h", want: Target{Host: "h", Port: 5349, Transport: "tls"}},
		{in: "turns:h:443?transport=tcp", want: Target{Host: "h", Port: 443, Transport: "tls"}},
		{in: "turns:h:5349?transport=udp", want: Target{Host: "h", Port: 5349, Transport: "dtls"}},
		{in: "turns:[::1]:5349?transport=UDP", want: Target{Host: "::1", Port: 5349, Transport: "dtls"}},
		{in: "turns:h:5349?transport=sctp", wantErr: "want udp (DTLS) or tcp (TLS)"},
		{in: "stun:h:3478", wantErr: `scheme "stun"`},
		{in: "h:3478", wantErr: `scheme "h"`},
		{in: "turn:", wantErr: "no host"},
		{in: "turn:h:0", wantErr: "port"},
		{in: "turn:h:99999", wantErr: "port"},
		{in: "turn:h:x", wantErr: "port"},
		{in: "turn:h:1?transport=sctp", wantErr: "transport=sctp"},
		{in: "turn:h:1?foo=bar", wantErr: `unknown parameter "foo"`},
		{in: "nonsense", wantErr: "want turn:"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTURNURL(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorIs(t, err, ErrConfig)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	base := Config{Server: "127.0.0.1:3478", Username: "u", Password: "p"}
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string // "" means valid
	}{
		{"defaults are valid", func(*Config) {}, ""},
		{"secret instead of user", func(c *Config) { c.Username, c.Password, c.Secret = "", "", "s" }, ""},
		{"traffic with pair", func(c *Config) { c.PPS, c.Pair = 10, true }, ""},
		{"no server", func(c *Config) { c.Server = "" }, "server"},
		{"server without port", func(c *Config) { c.Server = "h" }, "server"},
		{"unknown transport", func(c *Config) { c.Transport = "sctp" }, "transport"},
		{"no credentials", func(c *Config) { c.Username, c.Password = "", "" }, "--user"},
		{"user without password", func(c *Config) { c.Password = "" }, "--credential"},
		{"user and secret", func(c *Config) { c.Secret = "s" }, "--secret"},
		{"negative allocations", func(c *Config) { c.Allocations = -1 }, "--allocations"},
		{"too many allocations", func(c *Config) { c.Allocations = 100001 }, "--allocations"},
		{"negative rate", func(c *Config) { c.Rate = -5 }, "--rate"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "--duration"},
		{"ramp beyond duration", func(c *Config) { c.Ramp = time.Hour }, "--ramp"},
		{"negative pps", func(c *Config) { c.PPS = -1 }, "--pps"},
		{"size too small", func(c *Config) { c.Size = 8 }, "--size"},
		{"size too large", func(c *Config) { c.Size = MaxSize + 1 }, "--size"},
		{"bad mode", func(c *Config) { c.Mode = "tcp" }, "--mode"},
		{"peer and pair", func(c *Config) { c.Peer, c.Pair = "1.2.3.4:5", true }, "--peer"},
		{"bad peer", func(c *Config) { c.Peer = "nope" }, "--peer"},
		{"traffic without peer", func(c *Config) { c.PPS = 10 }, "--pps"},
		{"pair of one", func(c *Config) { c.Pair, c.Allocations = true, 1 }, "--allocations"},
		{"negative timeout", func(c *Config) { c.RequestTimeout = -1 }, "request-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			err := c.withDefaults().validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "%v", err)
			require.Equal(t, tt.field, ce.Field, "%v", err)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}

func TestRampSchedule(t *testing.T) {
	tests := []struct {
		name string
		k    int64
		rate float64
		ramp time.Duration
		want time.Duration
	}{
		{"no ramp", 10, 100, 0, 100 * time.Millisecond},
		{"first event at 0", 0, 100, time.Second, 0},
		// 100/s over 1 s ramps: 50 events during the ramp; event 50
		// starts when the ramp ends, then one every 10 ms.
		{"end of ramp", 50, 100, time.Second, time.Second},
		{"after ramp", 60, 100, time.Second, 1100 * time.Millisecond},
		// Halfway through the ramp (0.5 s) 12.5 events have started.
		{"quarter of the ramp's events", 12, 100, time.Second, 489897948 * time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.InDelta(t, float64(tt.want), float64(rampSchedule(tt.k, tt.rate, tt.ramp)), float64(time.Microsecond))
		})
	}
}
