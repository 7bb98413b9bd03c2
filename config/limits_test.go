package config

import (
	"testing"
)

func TestLimits(t *testing.T) {
	cfg, err := Parse([]byte(minimal), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Limits; l.SAS != DefaultSASLimit || l.Success != DefaultSuccessLimit || l.Unauthenticated != DefaultUnauthenticatedLimit || l.Proxies() != nil {
		t.Errorf("defaults: %+v", l)
	}
	cfg, err = Parse([]byte(minimal+`limits:
  sas: {rate: 600/m}
  success: {rate: 7200/h, burst: 3}
  unauthenticated: {rate: 500/s}
  trusted_proxies: ["127.0.0.1/32", "10.1.2.3/8"]
`), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits
	if l.SAS != (RateLimit{Rate: 10, Burst: DefaultSASLimit.Burst}) {
		t.Errorf("sas %+v: want 10/s and the default burst", l.SAS)
	}
	if l.Success != (RateLimit{Rate: 2, Burst: 3}) {
		t.Errorf("success %+v", l.Success)
	}
	if l.Unauthenticated != (RateLimit{Rate: 500, Burst: 500}) {
		t.Errorf("unauthenticated %+v: want a burst of at least one second's rate", l.Unauthenticated)
	}
	if p := l.Proxies(); len(p) != 2 || p[1].String() != "10.0.0.0/8" {
		t.Errorf("proxies %v", p)
	}
}

func TestLimitsErrors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"no unit", "limits: {sas: {rate: 50}}\n", `limits.sas.rate: want a rate such as 50/s, 300/m or 1000/h, got "50" (line 6)`},
		{"bad unit", "limits: {sas: {rate: 50/d}}\n", "limits.sas.rate: want a rate such as 50/s"},
		{"zero", "limits: {success: {rate: 0/s}}\n", "limits.success.rate: want a rate above zero"},
		{"NaN", "limits: {success: {rate: NaN/s}}\n", "limits.success.rate: want a rate such as"},
		{"negative burst", "limits: {unauthenticated: {burst: -1}}\n", "limits.unauthenticated.burst: want a positive number, got -1"},
		{"bad cidr", "limits: {trusted_proxies: [proxy.local]}\n", `limits.trusted_proxies[0]: want a CIDR such as 10.0.0.0/8, got "proxy.local"`},
		{"unknown", "limits: {sas: {rat: 5/s}}\n", "limits.sas.rat: unknown field; did you mean rate?"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+tt.yaml), goodEnv)
			checkErr(t, err, tt.want)
		})
	}
}
