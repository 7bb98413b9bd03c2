package server

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfoGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if err := m.Registry().Register(NewBuildInfo("v1.2.3", "abc123+dirty", "go1.26.8")); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP blobvalet_build_info The running build: version, commit and Go version in labels; always 1.
# TYPE blobvalet_build_info gauge
blobvalet_build_info{commit="abc123+dirty",goversion="go1.26.8",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "blobvalet_build_info"); err != nil {
		t.Fatal(err)
	}
	if err := m.Registry().Register(NewBuildInfo("v1.2.3", "abc123+dirty", "go1.26.8")); err == nil {
		t.Fatal("registered the build-info gauge twice")
	}
}
