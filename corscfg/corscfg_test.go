package corscfg

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var foreignA = Rule{AllowedOrigins: []string{"https://other.example"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"*"}, ExposedHeaders: []string{}, MaxAgeInSeconds: 60}
var foreignB = Rule{AllowedOrigins: []string{"https://cdn.example"}, AllowedMethods: []string{"GET", "HEAD"}, AllowedHeaders: []string{}, ExposedHeaders: []string{"etag"}, MaxAgeInSeconds: 0}

func want(origins ...string) Desired {
	return Desired{Origins: origins, MaxAge: time.Hour}
}

func TestPlan(t *testing.T) {
	mine := want("https://app.example").Rule()
	stale := mine
	stale.AllowedHeaders = []string{"x-ms-blob-type"}
	reordered := Rule{AllowedOrigins: []string{"HTTPS://APP.EXAMPLE"}, AllowedMethods: []string{"DELETE", "PUT"}, AllowedHeaders: []string{"X-MS-META-*", "content-type", "x-ms-blob-content-type", "x-ms-blob-type"}, ExposedHeaders: []string{}, MaxAgeInSeconds: 3600}
	tests := []struct {
		name    string
		current []Rule
		desired Desired
		action  Action
		index   int
		after   []Rule
	}{
		{"empty account", nil, want("https://app.example"), Add, 0, []Rule{mine}},
		{"beside foreign rules", []Rule{foreignA, foreignB}, want("https://app.example"), Add, 2, []Rule{foreignA, foreignB, mine}},
		{"already there", []Rule{foreignA, mine, foreignB}, want("https://app.example"), NoChange, 1, []Rule{foreignA, mine, foreignB}},
		{"same rule, other order and case", []Rule{reordered}, want("https://app.example"), NoChange, 0, []Rule{reordered}},
		{"stale rule updated in place", []Rule{foreignA, stale, foreignB}, want("https://app.example"), Update, 1, []Rule{foreignA, mine, foreignB}},
		{"other origin set is another rule", []Rule{mine}, want("https://app.example", "https://b.example"), Add, 1, []Rule{mine, want("https://app.example", "https://b.example").Rule()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Plan(tt.current, tt.desired)
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != tt.action || res.Index != tt.index {
				t.Errorf("action %q index %d, want %q %d", res.Action, res.Index, tt.action, tt.index)
			}
			if fmt.Sprint(res.After) != fmt.Sprint(tt.after) {
				t.Errorf("after\n%v\nwant\n%v", res.After, tt.after)
			}
		})
	}
}

func TestDesiredRule(t *testing.T) {
	r := Desired{Origins: []string{"https://App.Example"}, ExtraHeaders: []string{"Cache-Control", "content-type"}, MaxAge: 90 * time.Minute}.Rule()
	if got := strings.Join(r.AllowedHeaders, ","); got != "x-ms-blob-type,x-ms-blob-content-type,content-type,x-ms-meta-*,cache-control" {
		t.Errorf("headers %s", got)
	}
	if strings.Join(r.AllowedMethods, ",") != "PUT,DELETE" || r.AllowedOrigins[0] != "https://app.example" || r.MaxAgeInSeconds != 5400 {
		t.Errorf("rule %+v", r)
	}
}

func TestLimits(t *testing.T) {
	many := func(n int, f string) []string {
		var l []string
		for i := range n {
			l = append(l, fmt.Sprintf(f, i))
		}
		return l
	}
	tests := []struct {
		name    string
		current []Rule
		desired Desired
		want    string
	}{
		{"sixth rule", []Rule{foreignA, foreignA, foreignA, foreignA, foreignA}, want("https://app.example"), "6 rules; Azure allows at most 5"},
		{"too many origins", nil, want(many(65, "https://o%d.example")...), "65 origins; at most 64"},
		{"too many literal headers", nil, Desired{Origins: []string{"https://a.example"}, ExtraHeaders: many(62, "h%d")}, "65 literal allowed headers; at most 64"},
		{"too many prefixed headers", nil, Desired{Origins: []string{"https://a.example"}, ExtraHeaders: []string{"x-a-*", "x-b-*"}}, "3 prefixed allowed headers; at most 2"},
		{"long entry", nil, Desired{Origins: []string{"https://a.example"}, ExtraHeaders: []string{strings.Repeat("h", 257)}}, "entry of 257 characters"},
		{"too much text", nil, want(many(60, "https://a-rather-long-origin-name-%02d.example.com")...), "characters; Azure allows at most 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plan(tt.current, tt.desired)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	if err := CheckLimits([]Rule{want("https://app.example").Rule()}); err != nil {
		t.Errorf("blobvalet's own rule breaks a limit: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	shadow := Rule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"content-type"}}
	res, err := Plan([]Rule{shadow}, want("https://app.example"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "rule 1 comes first and also matches PUT from https://app.example") {
		t.Errorf("warnings %q", res.Warnings)
	}
	quirk := Rule{AllowedOrigins: []string{"https://*.example", "https://b.example"}, AllowedMethods: []string{"GET"}}
	res, _ = Plan([]Rule{quirk}, want("https://app.example"))
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "Azurite emulator stops reading origins at the first wildcard") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestCheckOrigin(t *testing.T) {
	for o, ok := range map[string]bool{
		"https://app.example.com": true, "http://127.0.0.1:8080": true,
		"https://app.example.com/": false, "app.example.com": false, "https://app.example.com/x": false,
		"ftp://a.example": false, "*": false, "https://*.example.com": false, "https://a.example?": false,
	} {
		if err := CheckOrigin(o, false); (err == nil) != ok {
			t.Errorf("CheckOrigin(%q) = %v, want ok=%v", o, err, ok)
		}
	}
	if err := CheckOrigin("*", true); err != nil {
		t.Errorf("* with allowAny: %v", err)
	}
}

func FuzzCheckOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "http://127.0.0.1:8080", "*", "https://a/b", "https://a.example?x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, o string) {
		if CheckOrigin(o, false) != nil {
			return
		}
		if strings.ContainsAny(o, "*?#,") || strings.Count(o, "/") != 2 {
			t.Fatalf("accepted %q", o)
		}
	})
}

// TestS3Rule: an S3 staging bucket's rule has the clients' methods and
// headers, exposes ETag, and is checked against S3's limits, not Azure's.
func TestS3Rule(t *testing.T) {
	d := Desired{Origins: []string{"HTTPS://App.Example.com"}, ExtraHeaders: []string{"Cache-Control"}, MaxAge: time.Hour, S3: true}
	r := d.Rule()
	if strings.Join(r.AllowedMethods, ",") != "PUT,POST,GET,DELETE" || strings.Join(r.AllowedHeaders, ",") != "content-type,authorization,x-amz-*,cache-control" ||
		strings.Join(r.ExposedHeaders, ",") != "ETag" || strings.Join(r.AllowedOrigins, ",") != "https://app.example.com" || r.MaxAgeInSeconds != 3600 {
		t.Errorf("S3 rule %+v", r)
	}
	// Six rules are too many on Azure, not on S3.
	var six []Rule
	for i := range 6 {
		six = append(six, Rule{ID: fmt.Sprint(i), AllowedOrigins: []string{fmt.Sprintf("https://%d.example.com", i)}, AllowedMethods: []string{"GET"}})
	}
	res, err := Plan(six, d)
	if err != nil || res.Action != Add || res.Index != 6 || res.After[0].ID != "0" {
		t.Errorf("Plan on S3 with six rules: %+v, %v", res, err)
	}
	if _, err := Plan(six, Desired{Origins: d.Origins, MaxAge: time.Hour}); err == nil {
		t.Error("Plan on Azure with seven rules: no error")
	}
	if err := CheckS3Limits([]Rule{{AllowedOrigins: []string{"https://*.*.example.com"}}}); err == nil || !strings.Contains(err.Error(), "one * in each origin and header") {
		t.Errorf("two wildcards: %v", err)
	}
	// An earlier rule that takes the page's requests is warned of, as S3's.
	first := Rule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PUT"}}
	res, err = Plan([]Rule{first}, d)
	if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "S3 applies the first matching rule") {
		t.Errorf("warnings %q, %v", res.Warnings, err)
	}
}
