package web

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// TestPageByStorage: / is the Azure page, or the S3 page when the demo
// runs on S3, and /demo.json tells the S3 page its staging bucket.
func TestPageByStorage(t *testing.T) {
	get := func(d Demo, path string) string {
		r := mux.NewRouter()
		Routes(d, Vendor{})(r)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		body, _ := io.ReadAll(w.Body)
		if w.Code != 200 {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
		return string(body)
	}
	azure := get(Demo{ContainerURL: "http://127.0.0.1:10000/devstoreaccount1/uploads"}, "/")
	if !strings.Contains(azure, "/demo/demo.js") || strings.Contains(azure, "s3-demo.js") {
		t.Error("the Azure demo does not serve the Azure page at /")
	}
	s3 := &S3Demo{Endpoint: "http://incoming.localhost:9000", Bucket: "incoming", Region: "us-east-1", AccessKey: "BVKEY", ACL: "private", FinalBucket: "uploads"}
	page := get(Demo{S3: s3}, "/")
	if !strings.Contains(page, "/demo/s3-demo.js") || strings.Contains(page, "/demo/demo.js") {
		t.Error("the S3 demo does not serve the S3 page at /")
	}
	var got Demo
	if err := json.Unmarshal([]byte(get(Demo{S3: s3}, "/demo.json")), &got); err != nil || got.S3 == nil || *got.S3 != *s3 {
		t.Errorf("/demo.json: %+v, %v", got.S3, err)
	}
	if strings.Contains(get(Demo{}, "/demo.json"), `"s3"`) {
		t.Error("the Azure demo's settings name S3")
	}
}
