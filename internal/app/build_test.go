package app

import "testing"

func TestVersionLogFields(t *testing.T) {
	b := Build{"v1.4.0", "0123abc", "go1.26.8"}
	got := map[string]string{}
	for _, f := range b.LogFields() {
		got[f.Key] = f.String
	}
	if got["version"] != "v1.4.0" || got["commit"] != "0123abc" || got["go"] != "go1.26.8" {
		t.Errorf("log fields %v", got)
	}
}
