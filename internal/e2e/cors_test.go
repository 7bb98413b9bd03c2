package e2e

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/corscfg"
)

var foreignA = corscfg.Rule{AllowedOrigins: []string{"https://other.example"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"*"}, ExposedHeaders: []string{}, MaxAgeInSeconds: 60}
var foreignB = corscfg.Rule{AllowedOrigins: []string{"https://cdn.example"}, AllowedMethods: []string{"GET", "HEAD"}, AllowedHeaders: []string{}, ExposedHeaders: []string{"etag"}, MaxAgeInSeconds: 0}

func corsCLI(t *testing.T, az *azurite.Server, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(append([]string{"cors"}, args...), "--connection-string", az.ConnectionString()), &out, &errOut)
	for _, s := range []string{az.Key(), "AccountKey"} {
		if strings.Contains(out.String()+errOut.String(), s) {
			t.Fatalf("output leaks the credential")
		}
	}
	return code, out.String(), errOut.String()
}

func TestCorsApplyTwice(t *testing.T) {
	az := azuritetest.Start(t, "uploads")
	code, out, errOut := corsCLI(t, az, "apply", "--origin", "http://127.0.0.1:8080")
	if code != 0 || !strings.Contains(out, "Written.") {
		t.Fatalf("first apply = %d\n%s%s", code, out, errOut)
	}
	before, _ := corscfg.Get(context.Background(), az.Client())
	code, out, _ = corsCLI(t, az, "apply", "--origin", "http://127.0.0.1:8080")
	if code != 0 || !strings.Contains(out, "Nothing to change") || strings.Contains(out, "Written.") {
		t.Fatalf("second apply = %d\n%s", code, out)
	}
	after, _ := corscfg.Get(context.Background(), az.Client())
	if !reflect.DeepEqual(before, after) || len(after) != 1 {
		t.Fatalf("rules changed by the second apply: %v -> %v", before, after)
	}
	code, out, _ = corsCLI(t, az, "show", "--json")
	if code != 0 || !strings.Contains(out, `"x-ms-meta-*"`) {
		t.Errorf("show --json = %d\n%s", code, out)
	}
	code, out, _ = corsCLI(t, az, "show")
	if code != 0 || !strings.Contains(out, "http://127.0.0.1:8080") || !strings.Contains(out, "PUT,DELETE") {
		t.Errorf("show = %d\n%s", code, out)
	}
}

func TestCorsApplyKeepsForeignRulesAndLogging(t *testing.T) {
	az := azuritetest.Start(t)
	ctx := context.Background()
	if err := corscfg.Set(ctx, az.Client(), []corscfg.Rule{foreignA, foreignB}); err != nil {
		t.Fatal(err)
	}
	logging := &service.Logging{Version: to.Ptr("1.0"), Read: to.Ptr(true), Write: to.Ptr(true), Delete: to.Ptr(false),
		RetentionPolicy: &service.RetentionPolicy{Enabled: to.Ptr(true), Days: to.Ptr(int32(7))}}
	if _, err := az.Client().SetProperties(ctx, &service.SetPropertiesOptions{Logging: logging}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := corsCLI(t, az, "plan", "--origin", "https://app.example.com")
	if code != 0 || !strings.Contains(out, "+ rule 3 added") || !strings.Contains(out, "Nothing written") {
		t.Fatalf("plan = %d\n%s%s", code, out, errOut)
	}
	if rules, _ := corscfg.Get(ctx, az.Client()); len(rules) != 2 {
		t.Fatalf("plan wrote: %v", rules)
	}
	if code, out, errOut := corsCLI(t, az, "apply", "--origin", "https://app.example.com"); code != 0 {
		t.Fatalf("apply = %d\n%s%s", code, out, errOut)
	}
	rules, err := corscfg.Get(ctx, az.Client())
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 3 || !reflect.DeepEqual(rules[0], foreignA) || !reflect.DeepEqual(rules[1], foreignB) {
		t.Fatalf("foreign rules not kept in order: %v", rules)
	}
	props, err := az.Client().GetProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := props.Logging; l == nil || !*l.Read || !*l.Write || *l.RetentionPolicy.Days != 7 {
		t.Errorf("logging settings lost: %+v", l)
	}
}

func TestCorsApplyRefusesBrokenLimit(t *testing.T) {
	az := azuritetest.Start(t)
	ctx := context.Background()
	five := []corscfg.Rule{foreignA, foreignB, foreignA, foreignB, foreignA}
	if err := corscfg.Set(ctx, az.Client(), five); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := corsCLI(t, az, "apply", "--origin", "https://app.example.com")
	if code != 1 || !strings.Contains(errOut, "6 rules; Azure allows at most 5") {
		t.Fatalf("apply = %d, stderr %q", code, errOut)
	}
	if rules, _ := corscfg.Get(ctx, az.Client()); !reflect.DeepEqual(rules, five) {
		t.Fatalf("rules changed: %v", rules)
	}
}

func TestCorsUsage(t *testing.T) {
	az := azuritetest.Start(t)
	for _, args := range [][]string{
		{"apply"},
		{"apply", "--origin", "https://app.example.com/"},
		{"apply", "--origin", "*"},
		{"plan", "--origin", "https://a.example", "--header", "a,b"},
		{"nope"},
	} {
		if code, _, errOut := corsCLI(t, az, args...); code != 2 || errOut == "" {
			t.Errorf("%v = %d, stderr %q; want 2 with a message", args, code, errOut)
		}
	}
	var out, errOut bytes.Buffer
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	if code := run(context.Background(), []string{"cors", "show"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "no storage credentials") {
		t.Errorf("show without credentials = %d %q", code, errOut.String())
	}
	code, _, errOut2 := corsCLI(t, az, "apply", "--origin", "*", "--allow-any-origin")
	if code != 0 || !strings.Contains(errOut2, "warning") {
		t.Errorf("apply * = %d, stderr %q", code, errOut2)
	}
}

// TestPreflight checks, with real preflight requests as a browser sends them
// for Fine Uploader's requests, that the applied rule lets the page's origin
// through and no other.
func TestCorsPreflight(t *testing.T) {
	az := azuritetest.Start(t, "uploads")
	const origin = "https://app.example.com"
	if code, out, errOut := corsCLI(t, az, "apply", "--origin", origin); code != 0 {
		t.Fatalf("apply = %d\n%s%s", code, out, errOut)
	}
	blob := az.Endpoint() + "/uploads/users/alice/x.jpg"
	cases := []struct{ name, method, headers string }{
		{"Put Blob", "PUT", "x-ms-blob-type,content-type,x-ms-meta-qqfilename"},
		{"Put Block List", "PUT", "content-type,x-ms-blob-content-type,x-ms-meta-qqfilename"},
		{"Delete Blob", "DELETE", ""},
	}
	preflight := func(origin, method, headers string) int {
		req, _ := http.NewRequest("OPTIONS", blob, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", method)
		if headers != "" {
			req.Header.Set("Access-Control-Request-Headers", headers)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range cases {
		if code := preflight(origin, c.method, c.headers); code != 200 {
			t.Errorf("%s from %s = %d, want 200", c.name, origin, code)
		}
		if code := preflight("https://evil.example.com", c.method, c.headers); code != 403 {
			t.Errorf("%s from another origin = %d, want 403", c.name, code)
		}
	}
}
