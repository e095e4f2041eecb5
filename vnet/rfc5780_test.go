package vnet_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natkit/natkit/probe/natbehavior"
	"github.com/natkit/natkit/vnet"
)

// TestPresetsClassify runs natkit's RFC 5780 probe from side a through each
// NAT preset against the topology's relay (two addresses), end to end: the
// classification must name the preset's behaviours.
func TestPresetsClassify(t *testing.T) {
	tests := []struct {
		side      vnet.Side
		mapping   natbehavior.Mapping
		filtering natbehavior.Filtering
	}{
		{vnet.Side{Preset: "open"}, natbehavior.MappingNoNAT, natbehavior.FilteringEIF},
		{vnet.Side{Preset: "full-cone"}, natbehavior.MappingEIM, natbehavior.FilteringEIF},
		{vnet.Side{Preset: "restricted-cone"}, natbehavior.MappingEIM, natbehavior.FilteringADF},
		{vnet.Side{Preset: "port-restricted-cone"}, natbehavior.MappingEIM, natbehavior.FilteringAPDF},
		{vnet.Side{Preset: "symmetric"}, natbehavior.MappingAPDM, natbehavior.FilteringAPDF},
		{vnet.Side{Mapping: "ADM", Filtering: "ADF"}, natbehavior.MappingADM, natbehavior.FilteringADF},
	}
	for _, tt := range tests {
		name := tt.side.Preset
		if name == "" {
			name = tt.side.Mapping + "-" + tt.side.Filtering
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			top, err := vnet.Build(vnet.Spec{A: tt.side})
			require.NoError(t, err)
			defer top.Close()
			n, err := top.Net(vnet.SideA)
			require.NoError(t, err)
			res, err := natbehavior.Run(context.Background(), natbehavior.Config{Net: n, Server: vnet.RelayIP + ":3478"})
			require.NoError(t, err)
			require.True(t, res.RFC5780, "the relay answers with OTHER-ADDRESS")
			require.Equal(t, tt.mapping, res.Mapping)
			require.Equal(t, tt.filtering, res.Filtering)
		})
	}
}
