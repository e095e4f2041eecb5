package scenarios

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/lab/labtest"
	"github.com/natkit/natkit/probe/call"
)

// Two natkit peers on one shared LAN, both hiding their host addresses
// behind .local names, no STUN or TURN: only names are signalled, so they
// connect (host to host) only because each resolves the other's name.
func TestSharedLANMDNSPionPion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a kernel lab")
	}
	labtest.Require(t)
	spec, err := Parse("mdns.yaml", []byte(`name: mdns-pion-pion
topology:
  lan: shared
  a: {nat: full-cone, mdns: gather}
  b: {nat: full-cone, mdns: gather}
ice: {stun: false, timeouts: fast}
expect: {connected: true, path: direct, delivered: 100}
`))
	require.NoError(t, err)
	before := labtest.Namespaces()
	res, err := Run(context.Background(), spec, Options{Net: NetKernel, WaitTimeout: 10 * time.Second})
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	require.NoError(t, err)
	require.True(t, res.Passed(), "checks %+v: %s", res.Checks, res.Call.Diagnosis())
	require.Equal(t, call.PathDirectHost, res.Call.Path.Class, res.Call.Path.Describe())
	require.True(t, res.Call.Path.Pair.Local.MDNS, "local %s", res.Call.Path.Pair.Local)
	require.True(t, res.Call.Path.Pair.Remote.MDNS, "remote %s", res.Call.Path.Pair.Remote)
	for side, cands := range res.Call.Candidates {
		require.NotEmpty(t, cands, side)
		for _, c := range cands {
			require.True(t, c.MDNS, "side %s gathered %s: a plain host address leaked", side, c)
		}
	}
}

// A browser and natkit's engine on one shared LAN, both hiding their host
// addresses behind .local names (the browser as users' browsers do), no
// STUN or TURN: only names are signalled, so the call connects only
// through mDNS, and directly, host to host. What resolves is Chromium
// (natkit's engine answers its queries): the engine's own lookups of the
// browser's name (pion's mDNS client, v2.1.0, asks from an ephemeral
// port) get no answer it takes; its log says so, and this test logs it
// (docs/scenarios.md, "mDNS candidates").
func TestSharedLANMDNSPionChromium(t *testing.T) {
	requireChromiumLab(t)
	spec, err := Parse("mdns.yaml", []byte(`name: mdns-pion-chromium
topology:
  lan: shared
  a: {nat: full-cone, peer: chromium, mdns: gather}
  b: {nat: full-cone, mdns: gather}
ice: {stun: false}
expect: {connected: true, path: direct, delivered: 100}
`))
	require.NoError(t, err)
	logs := &warnings{}
	before := labtest.Namespaces()
	res, err := Run(context.Background(), spec, Options{Net: NetKernel, WaitTimeout: 20 * time.Second, Logger: slog.New(logs)})
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	require.NoError(t, err)
	require.True(t, res.Passed(), "checks %+v diagnoses %v", res.Checks, res.Diagnoses)
	br := res.Browsers["a"]
	require.NotNil(t, br)
	require.Contains(t, br.Browser.Flags, "--enable-features=WebRtcHideLocalIpsWithMdns")
	require.NotEmpty(t, res.Call.Candidates["a"])
	for _, c := range res.Call.Candidates["a"] {
		require.True(t, c.MDNS, "the browser's candidate %s is named mDNS", c)
	}
	require.Equal(t, call.PathDirectHost, res.Call.Path.Class, res.Call.Path.Describe())
	require.True(t, res.Call.Path.Pair.Local.MDNS, "the engine's local %s", res.Call.Path.Pair.Local)
	require.True(t, res.Call.Path.Pair.Remote.MDNS, "the engine's remote %s is the browser's mDNS candidate", res.Call.Path.Pair.Remote)
	for _, w := range logs.all() {
		t.Logf("pion: %s", w)
	}
}

// warnings keeps the warnings logged to it.
type warnings struct {
	mu  sync.Mutex
	got []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }
func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}

// The lan and mdns keys: bad values name the key and what is valid, and
// what vnet cannot honour is refused there by name.
func TestSpecLANAndMDNSErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"lan value", "name: x\ntopology:\n  lan: together\n", `f.yaml:3: lan "together": want separate or shared`},
		{"mdns value", "name: x\ntopology:\n  a: {mdns: loud}\n", `f.yaml:3: mdns "loud": want off, query, gather`},
		{"chromium mdns off", "name: x\ntopology:\n  a: {peer: chromium, mdns: off}\n", `f.yaml:3: mdns "off" with peer: chromium: want query or gather`},
		{"command mdns", "name: x\ntopology:\n  b: {peer: command, command: [x], mdns: query}\n", "f.yaml:3: mdns is not available with peer: command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.yaml))
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"shared lan on vnet", "name: x\ntopology:\n  lan: shared\n", "f.yaml:3: lan: shared needs the kernel backend (--net kernel)"},
		{"mdns on vnet", "name: x\ntopology:\n  b:\n    mdns: gather\n", "f.yaml:4: mdns: gather needs the kernel backend (--net kernel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := Parse("f.yaml", []byte(tc.yaml))
			require.NoError(t, err)
			require.NoError(t, spec.CheckBackend(NetKernel))
			err = spec.CheckBackend(NetVNet)
			require.ErrorContains(t, err, tc.want)
			_, err = Run(context.Background(), spec, Options{})
			require.ErrorContains(t, err, tc.want)
		})
	}
	spec, err := Parse("f.yaml", []byte("name: x\ntopology:\n  lan: separate\n  a: {mdns: off}\n"))
	require.NoError(t, err)
	require.NoError(t, spec.CheckBackend(NetVNet))
}

// natkit matrix --net kernel --peers pion,chromium --nat full-cone --turn
// no: the four implementation pairs across two full-cone kernel NATs each
// connect directly, as theory says.
func TestMatrixKernelPionChromiumFullCone(t *testing.T) {
	requireChromiumLab(t)
	before := labtest.Namespaces()
	res, err := RunMatrix(context.Background(), MatrixConfig{Net: NetKernel, Peers: []string{"pion", PeerChromium},
		NATs: []string{"full-cone"}, TURN: TURNNo})
	require.Equal(t, before, labtest.Namespaces(), "namespaces left behind")
	require.NoError(t, err)
	require.Len(t, res.Cells, 4)
	pairs := map[string]bool{}
	for _, c := range res.Cells {
		pairs[c.Pair()] = true
		require.True(t, c.Match(), "%s: expected %s, observed %s", c.Name(), c.ExpectedText(), c.ObservedText())
		require.True(t, c.ExpectConnected, c.Name())
	}
	require.Len(t, pairs, 4, "pion×pion, pion×chromium, chromium×pion, chromium×chromium: %v", pairs)
	rep := res.Report()
	require.NotEqual(t, "fail", string(rep.Verdict), rep.Summary)
	t.Logf("wall %v", res.Duration)
}
