package server

import "github.com/prometheus/client_golang/prometheus"

// NewBuildInfo returns the blobvalet_build_info gauge: always 1, with the
// build in its labels, so that dashboards can tell which build each
// instance runs (group by version, or join on instance).
func NewBuildInfo(version, commit, goVersion string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "blobvalet_build_info",
		Help:        "The running build: version, commit and Go version in labels; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": goVersion},
	})
	g.Set(1)
	return g
}
