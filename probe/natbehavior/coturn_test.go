package natbehavior

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/internal/externaltest"
)

// startCoturnRFC5780 starts coturn on 127.0.0.1 and 127.0.0.2, which turns
// on its RFC 5780 support (alternate port: port+1).
func startCoturnRFC5780(t testing.TB) int {
	t.Helper()
	return externaltest.StartCoturn(t, externaltest.CoturnConfig{RFC5780: true, Users: []string{"u:p"}}).Port
}

var natdiscoveryRe = regexp.MustCompile(`NAT with (Endpoint Independent|Address Dependent|Address and Port Dependent) (Mapping|Filtering)`)

func TestCoturnAgreesWithNatdiscovery(t *testing.T) {
	natdiscovery := externaltest.LookPath(t, "turnutils_natdiscovery", "coturn")
	port := startCoturnRFC5780(t)

	res, err := Run(context.Background(), Config{Server: fmt.Sprintf("127.0.0.1:%d", port), Hairpin: true, Lifetime: true, LifetimeMax: time.Second})
	require.NoError(t, err)
	assert.True(t, res.RFC5780, "notes: %v", res.Notes)
	assert.Equal(t, fmt.Sprintf("127.0.0.2:%d", port+1), res.OtherAddress)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := externaltest.Run(ctx, natdiscovery, "-m", "-f", "-p", fmt.Sprint(port), "127.0.0.1")
	require.NoError(t, err, out)
	theirs := map[string]string{}
	for _, m := range natdiscoveryRe.FindAllStringSubmatch(out, -1) {
		theirs[m[2]] = m[1]
	}
	require.Len(t, theirs, 2, out)
	filtering := map[string]Filtering{"Endpoint Independent": FilteringEIF, "Address Dependent": FilteringADF, "Address and Port Dependent": FilteringAPDF}

	// On loopback there is no translation: we say "no NAT", natdiscovery
	// (which has no such verdict) says endpoint-independent mapping.
	assert.False(t, res.NAT)
	assert.Equal(t, MappingNoNAT, res.Mapping)
	assert.Equal(t, "Endpoint Independent", theirs["Mapping"])
	assert.Equal(t, filtering[theirs["Filtering"]], res.Filtering)
	assert.Equal(t, FilteringEIF, res.Filtering)
	assert.Equal(t, "open internet", res.Classic)
	require.NotNil(t, res.Hairpin)
	assert.True(t, res.Hairpin.Supported)
	// coturn honours RESPONSE-PORT, and nothing expires on loopback.
	require.NotNil(t, res.Lifetime)
	assert.Empty(t, res.Lifetime.Note)
	assert.Equal(t, "more than 1s", res.Lifetime.Range())
}
