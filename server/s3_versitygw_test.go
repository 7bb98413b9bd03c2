package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore/s3"
	"github.com/blobvalet/blobvalet/internal/emulator"
	"github.com/blobvalet/blobvalet/s3emu"
	"github.com/blobvalet/blobvalet/s3emu/s3emutest"
	"github.com/blobvalet/blobvalet/s3sign"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/success"
)

// s3Fixture is an S3-only blobvalet on versitygw: staging bucket "stage",
// final buckets "uploads" and "shared" (the test rules'), versitygw taking
// virtual-hosted requests for <bucket>.localhost:<port>, and the real
// upload-success check on blobstore/s3.
type s3Fixture struct {
	t    *testing.T
	ts   *testServer
	emu  *s3emu.Server
	host string // stage.localhost:<port>
	http *http.Client
}

func startS3Fixture(t *testing.T) *s3Fixture {
	t.Helper()
	s3emutest.SkipShort(t)
	ports, err := emulator.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ports[0])
	// versitygw reads its flags from the environment too; s3emu passes the
	// environment on.
	t.Setenv("VGW_VIRTUAL_DOMAIN", "localhost:"+port)
	emu := s3emutest.StartOptions(t, s3emu.Options{Port: ports[0]}, "stage", "uploads", "shared")
	f := &s3Fixture{t: t, emu: emu, host: "stage.localhost:" + port}
	dial := &net.Dialer{Timeout: 5 * time.Second}
	f.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial.DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}}
	sg, err := s3sign.New(s3sign.Config{
		AccessKeyID: emu.AccessKey(), SecretAccessKey: emu.SecretKey(), Region: s3emu.Region,
		Bucket: "stage", Endpoint: emu.Endpoint(), Host: f.host, ACL: s3sign.ACLPrivate,
	}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	client, err := s3.NewClient(s3.Config{Endpoint: emu.Endpoint(), Region: s3emu.Region, PathStyle: true, AccessKeyID: emu.AccessKey(), SecretAccessKey: emu.SecretKey()})
	if err != nil {
		t.Fatal(err)
	}
	store := s3.Store{Client: client}
	o := testOptions(t)
	o.Resolver, o.Signer, o.Staging, o.Uploads, o.Lifetime = nil, nil, staging.Area{}, nil, 0
	area := staging.Area{Container: "stage"}
	o.S3 = &S3{Signer: sg, Staging: area, Lifetime: 5 * time.Minute, DefaultMaxSize: 1 << 20, Files: store}
	o.Success = &success.Checker{Store: store, Policy: o.Policy, Staging: area, Now: time.Now, Log: zap.NewNop()}
	f.ts = &testServer{Server: mustNew(t, o)}
	return f
}

// api calls blobvalet as alice and decodes its JSON answer.
func (f *s3Fixture) api(method, target, contentType string, body []byte) (int, map[string]any) {
	f.t.Helper()
	w, m := doAs(f.ts, aliceToken, method, target, contentType, body)
	return w.Code, m
}

// storage sends a request to versitygw.
func (f *s3Fixture) storage(req *http.Request) (int, string, http.Header) {
	f.t.Helper()
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// fuREST is a REST string as Fine Uploader builds it now, with the headers
// it sends.
func (f *s3Fixture) fuREST(host, method, key, query string, extra [][2]string, payload string) (string, [][2]string) {
	return f.fuRESTAt(time.Now(), host, method, key, query, extra, payload)
}

// fuRESTAt is fuREST dated at.
func (f *s3Fixture) fuRESTAt(at time.Time, host, method, key, query string, extra [][2]string, payload string) (string, [][2]string) {
	now := at.UTC()
	h := [][2]string{{"host", host}, {"x-amz-content-sha256", payload}, {"x-amz-date", now.Format("20060102T150405Z")}}
	h = append(h, extra...)
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && h[j][0] < h[j-1][0]; j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
	var lines, names []string
	for _, kv := range h {
		lines = append(lines, kv[0]+":"+kv[1])
		names = append(names, kv[0])
	}
	path := (&url.URL{Path: key}).EscapedPath()
	path = strings.NewReplacer("(", "%28", ")", "%29", "!", "%21", "'", "%27", "*", "%2A", "+", "%2B", "=", "%3D", "&", "%26", "$", "%24", ",", "%2C", ":", "%3A", ";", "%3B", "@", "%40").Replace(path)
	str := "AWS4-HMAC-SHA256\n" + now.Format("20060102T150405Z") + "\n" + now.Format("20060102") + "/" + s3emu.Region + "/s3/aws4_request\n" +
		method + "\n/" + path + "\n" + query + "\n" + strings.Join(lines, "\n") + "\n\n" + strings.Join(names, ";") + "\n" + payload
	return str, h
}

// signREST asks /s3/sign for str and, when signed, sends the request.
func (f *s3Fixture) signREST(str string, headers [][2]string, body []byte) (int, map[string]any, int, string, http.Header) {
	f.t.Helper()
	status, m := f.api("POST", "/s3/sign?v4=true", "application/json; charset=UTF-8", restBody(str))
	if status != 200 {
		return status, m, 0, "", nil
	}
	lines := strings.Split(str, "\n")
	method, path, query := lines[3], lines[4], lines[5]
	u := "http://" + f.host + path
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	var names []string
	for _, h := range headers {
		names = append(names, h[0])
		if h[0] == "host" {
			req.Host = h[1]
			continue
		}
		req.Header.Set(h[0], h[1])
	}
	req.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s,SignedHeaders=%s,Signature=%s",
		f.emu.AccessKey(), lines[2], strings.Join(names, ";"), m["signature"]))
	s, b, h := f.storage(req)
	return status, m, s, b, h
}

func (f *s3Fixture) object(bucket, key string) (string, map[string]string, error) {
	out, err := f.emu.Client().GetObject(context.Background(), &s3sdk.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", nil, err
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b), out.Metadata, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestS3FineUploaderChunkedOnVersitygw is Fine Uploader S3's chunked
// upload through blobvalet: the key from /s3/key, each request signed by
// /s3/sign and accepted by versitygw, then /success promotes the file,
// and deleteFile removes it.
func TestS3FineUploaderChunkedOnVersitygw(t *testing.T) {
	f := startS3Fixture(t)
	status, m := f.api("GET", "/s3/key?bucket=uploads&name="+url.QueryEscape("users/alice/big (1).bin"), "", nil)
	if status != 200 {
		t.Fatalf("/s3/key: %d %v", status, m)
	}
	key := m["key"].(string)
	str, h := f.fuREST(f.host, "POST", key, "uploads=", [][2]string{{"x-amz-acl", "private"}, {"x-amz-meta-qqfilename", "big%20%281%29.bin"}}, s3sign.EmptyPayloadHash)
	_, m, st, body, _ := f.signREST(str, h, nil)
	var init struct{ UploadId string }
	if err := xml.Unmarshal([]byte(body), &init); st != 200 || err != nil {
		t.Fatalf("initiate: signed %v, storage %d %s", m, st, body)
	}
	id := url.QueryEscape(init.UploadId)
	parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("end")}
	var etags []string
	for i, p := range parts {
		str, h := f.fuREST(f.host, "PUT", key, "partNumber="+strconv.Itoa(i+1)+"&uploadId="+id, nil, sha256Hex(p))
		_, m, st, body, hdr := f.signREST(str, h, p)
		if st != 200 {
			t.Fatalf("part %d: signed %v, storage %d %s", i+1, m, st, body)
		}
		etags = append(etags, hdr.Get("ETag"))
	}
	var x bytes.Buffer
	x.WriteString("<CompleteMultipartUpload>")
	for i, e := range etags {
		fmt.Fprintf(&x, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, e)
	}
	x.WriteString("</CompleteMultipartUpload>")
	str, h = f.fuREST(f.host, "POST", key, "uploadId="+id, nil, sha256Hex(x.Bytes()))
	if _, m, st, body, _ := f.signREST(str, h, x.Bytes()); st != 200 {
		t.Fatalf("complete: signed %v, storage %d %s", m, st, body)
	}
	// Nothing at the final name before /success.
	if _, _, err := f.object("uploads", "users/alice/big (1).bin"); err == nil {
		t.Fatal("the upload is at its final name before it was verified")
	}
	form := url.Values{"key": {key}, "uuid": {"0b472b64-1f67-4a58-add2-09137b37f3e4"}, "name": {"big (1).bin"}, "bucket": {"stage"}}
	if status, m := f.api("POST", "/success", "application/x-www-form-urlencoded", []byte(form.Encode())); status != 200 || m["success"] != true {
		t.Fatalf("/success: %d %v", status, m)
	}
	got, _, err := f.object("uploads", "users/alice/big (1).bin")
	if err != nil || len(got) != 5<<20+3 {
		t.Fatalf("final object: %d bytes, %v", len(got), err)
	}
	// The stamp, as the port reads it (S3 stores its names with hyphens).
	props, err := s3.Store{Client: f.emu.Client()}.Properties(context.Background(), blobref.Ref{Container: "uploads", Name: "users/alice/big (1).bin"})
	if err != nil || !success.StampedBy(props.Metadata, "alice") {
		t.Fatalf("final object's stamp: %v, %v", props.Metadata, err)
	}
	if _, _, err := f.object("stage", key); err == nil {
		t.Error("the staging object is left")
	}
	// deleteFile: bob cannot, alice can.
	target := "/s3/files/" + form.Get("uuid") + "?bucket=stage&key=" + url.QueryEscape(key)
	if w, _ := doAs(f.ts, bobToken, "DELETE", target, "", nil); w.Code != 404 {
		t.Errorf("bob's delete of alice's file: %d %s", w.Code, w.Body)
	}
	if status, m := f.api("DELETE", target, "", nil); status != 200 {
		t.Fatalf("delete: %d %v", status, m)
	}
	if _, _, err := f.object("uploads", "users/alice/big (1).bin"); err == nil {
		t.Error("the deleted file is still there")
	}
	if status, _ := f.api("DELETE", target, "", nil); status != 404 {
		t.Errorf("second delete: %d", status)
	}
}

// TestS3FineUploaderPolicyOnVersitygw is Fine Uploader S3's simple upload:
// the policy signed by /s3/sign is accepted within the rule's size and
// refused above it, and /success promotes the file.
func TestS3FineUploaderPolicyOnVersitygw(t *testing.T) {
	f := startS3Fixture(t)
	_, m := f.api("GET", "/s3/key?bucket=uploads&name=users/alice/note.txt", "", nil)
	key := m["key"].(string)
	now := time.Now().UTC()
	fields := [][2]string{
		{"acl", "private"}, {"bucket", "stage"}, {"Content-Type", "text/plain"}, {"success_action_status", "200"},
		{"x-amz-algorithm", "AWS4-HMAC-SHA256"}, {"key", key},
		{"x-amz-credential", f.emu.AccessKey() + "/" + now.Format("20060102") + "/" + s3emu.Region + "/s3/aws4_request"},
		{"x-amz-date", now.Format("20060102T150405Z")}, {"x-amz-meta-qqfilename", "note.txt"},
	}
	var conds []string
	for _, kv := range fields {
		conds = append(conds, fmt.Sprintf("{%q:%q}", kv[0], kv[1]))
	}
	doc := `{"expiration":"` + now.Add(5*time.Minute).Format("2006-01-02T15:04:05.000Z") + `","conditions":[` + strings.Join(conds, ",") + `]}`
	status, m := f.api("POST", "/s3/sign?v4=true", "application/json", []byte(doc))
	if status != 200 {
		t.Fatalf("/s3/sign: %d %v", status, m)
	}
	post := func(content []byte) (int, string) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, kv := range fields {
			if kv[0] != "bucket" {
				w.WriteField(kv[0], kv[1])
			}
		}
		w.WriteField("policy", m["policy"].(string))
		w.WriteField("x-amz-signature", m["signature"].(string))
		fw, _ := w.CreateFormFile("file", "note.txt")
		fw.Write(content)
		w.Close()
		req, _ := http.NewRequest("POST", "http://"+f.host+"/", &buf)
		req.Header.Set("Content-Type", w.FormDataContentType())
		s, b, _ := f.storage(req)
		return s, b
	}
	// The rule has no max_size: the default, 1 MiB, is the policy's range.
	if s, b := post(bytes.Repeat([]byte("x"), 1<<20+1)); s != 400 || !strings.Contains(b, "EntityTooLarge") {
		t.Errorf("1 MiB + 1: %d %s", s, b)
	}
	if s, b := post([]byte("hello\n")); s != 200 {
		t.Fatalf("upload: %d %s", s, b)
	}
	form := url.Values{"key": {key}, "uuid": {"u-1"}, "name": {"note.txt"}, "bucket": {"stage"}, "etag": {`"x"`}}
	if status, m := f.api("POST", "/success", "application/x-www-form-urlencoded", []byte(form.Encode())); status != 200 || m["success"] != true {
		t.Fatalf("/success: %d %v", status, m)
	}
	if got, _, err := f.object("uploads", "users/alice/note.txt"); err != nil || got != "hello\n" {
		t.Errorf("final object %q, %v", got, err)
	}
}

// TestS3UppyOnVersitygw is Uppy's upload through /s3/presign: a small PUT
// and a multipart upload to the staging key blobvalet chose, then the
// page's /success.
func TestS3UppyOnVersitygw(t *testing.T) {
	f := startS3Fixture(t)
	presign := func(req string) (string, string) {
		t.Helper()
		status, m := f.api("POST", "/s3/presign?bucket=uploads", "application/json", []byte(req))
		if status != 200 {
			t.Fatalf("presign %s: %d %v", req, status, m)
		}
		return m["url"].(string), m["key"].(string)
	}
	send := func(method, u string, body []byte) (int, string, http.Header) {
		req, _ := http.NewRequest(method, u, bytes.NewReader(body))
		return f.storage(req)
	}
	u, key := presign(`{"method":"PUT","key":"users/alice/small.txt"}`)
	if s, b, _ := send("PUT", u, []byte("small")); s != 200 {
		t.Fatalf("put: %d %s", s, b)
	}
	u, bigKey := presign(`{"method":"POST","key":"users/alice/big.bin"}`)
	_, body, _ := send("POST", u, nil)
	var init struct{ UploadId string }
	if err := xml.Unmarshal([]byte(body), &init); err != nil {
		t.Fatal(body)
	}
	var etags []string
	for i, p := range [][]byte{bytes.Repeat([]byte("b"), 5<<20), []byte("end")} {
		req, _ := json.Marshal(map[string]any{"method": "PUT", "key": bigKey, "uploadId": init.UploadId, "partNumber": i + 1})
		u, _ := presign(string(req))
		s, b, h := send("PUT", u, p)
		if s != 200 {
			t.Fatalf("part: %d %s", s, b)
		}
		etags = append(etags, h.Get("ETag"))
	}
	var x bytes.Buffer
	x.WriteString("<CompleteMultipartUpload>")
	for i, e := range etags {
		fmt.Fprintf(&x, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, e)
	}
	x.WriteString("</CompleteMultipartUpload>")
	req, _ := json.Marshal(map[string]any{"method": "POST", "key": bigKey, "uploadId": init.UploadId})
	u, _ = presign(string(req))
	if s, b, _ := send("POST", u, x.Bytes()); s != 200 || !strings.Contains(b, "<Key>") {
		t.Fatalf("complete: %d %s", s, b)
	}
	for _, k := range []struct{ key, final string }{{key, "users/alice/small.txt"}, {bigKey, "users/alice/big.bin"}} {
		b, _ := json.Marshal(map[string]string{"key": k.key})
		if status, m := f.api("POST", "/success", "application/json", b); status != 200 || m["success"] != true {
			t.Fatalf("/success %s: %d %v", k.key, status, m)
		}
		if _, _, err := f.object("uploads", k.final); err != nil {
			t.Errorf("%s: %v", k.final, err)
		}
	}
}

// TestS3ForgeriesRefusedByRoute sends every forging case of the signer
// to /s3/sign: each is answered 403 (400 for v2) with invalid set and no
// signature, so nothing reaches storage. The same requests signed
// unchecked work on versitygw (package s3sign's TestForgedRESTWouldWork).
func TestS3ForgeriesRefusedByRoute(t *testing.T) {
	f := startS3Fixture(t)
	_, m := f.api("GET", "/s3/key?bucket=uploads&name=users/alice/a.txt", "", nil)
	mine := m["key"].(string)
	bobs := "Ym9i/uploads/users/bob/a.txt"
	empty := s3sign.EmptyPayloadHash
	rest := func(host, method, key, query string, extra ...[2]string) []byte {
		s, _ := f.fuREST(host, method, key, query, extra, empty)
		return restBody(s)
	}
	old := func() []byte {
		s, _ := f.fuRESTAt(time.Now().Add(-10*time.Minute), f.host, "PUT", mine, "partNumber=1&uploadId=u", nil, empty)
		return restBody(s)
	}
	policy := func(edit func([]string) []string) []byte {
		now := time.Now().UTC()
		conds := []string{`{"acl":"private"}`, `{"bucket":"stage"}`, `{"success_action_status":"200"}`, `{"x-amz-algorithm":"AWS4-HMAC-SHA256"}`,
			fmt.Sprintf(`{"key":%q}`, mine), `{"x-amz-credential":"` + f.emu.AccessKey() + "/" + now.Format("20060102") + `/us-east-1/s3/aws4_request"}`,
			`{"x-amz-date":"` + now.Format("20060102T150405Z") + `"}`}
		return []byte(`{"expiration":"2030-01-01T00:00:00.000Z","conditions":[` + strings.Join(edit(conds), ",") + `]}`)
	}
	for _, tc := range []struct {
		name   string
		query  string
		body   []byte
		status int
	}{
		{"REST for another user's key", "v4=true", rest(f.host, "PUT", bobs, "partNumber=1&uploadId=u"), 403},
		{"GET", "v4=true", rest(f.host, "GET", mine, ""), 403},
		{"DELETE of an object", "v4=true", rest(f.host, "DELETE", mine, ""), 403},
		{"x-amz-copy-source", "v4=true", rest(f.host, "PUT", mine, "", [2]string{"x-amz-copy-source", "/uploads/users/bob/a.txt"}), 403},
		{"x-amz-copy-source on a part", "v4=true", rest(f.host, "PUT", mine, "partNumber=1&uploadId=u", [2]string{"x-amz-copy-source", "/uploads/users/bob/a.txt"}), 403},
		{"an ACL grant", "v4=true", rest(f.host, "POST", mine, "uploads=", [2]string{"x-amz-acl", "private"}, [2]string{"x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""}), 403},
		{"?cors", "v4=true", rest(f.host, "PUT", mine, "cors="), 403},
		{"another host", "v4=true", rest(strings.Replace(f.host, "stage.", "uploads.", 1), "POST", "users/alice/a.txt", "uploads=", [2]string{"x-amz-acl", "private"}), 403},
		{"another region", "v4=true", []byte(strings.Replace(string(rest(f.host, "PUT", mine, "partNumber=1&uploadId=u")), "/us-east-1/", "/eu-west-1/", 1)), 403},
		{"an old date", "v4=true", old(), 403},
		{"a policy for another key", "v4=true", policy(func(c []string) []string { c[4] = fmt.Sprintf(`{"key":%q}`, bobs); return c }), 403},
		{"a public ACL", "v4=true", policy(func(c []string) []string { c[0] = `{"acl":"public-read"}`; return c }), 403},
		{"an extra condition", "v4=true", policy(func(c []string) []string { return append(c, `{"success_action_redirect":"https://evil.example/"}`) }), 403},
		{"starts-with", "v4=true", policy(func(c []string) []string { return append(c, `["starts-with","$Content-Type",""]`) }), 403},
		{"v2", "", policy(func(c []string) []string { return c }), 400},
		{"a v2 policy", "v4=true", policy(func(c []string) []string { return append(c[:3], c[4]) }), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, m := f.api("POST", "/s3/sign?"+tc.query, "application/json", tc.body)
			if status != tc.status || m["invalid"] != true || m["error"] == "" || m["signature"] != nil || m["policy"] != nil {
				t.Errorf("%d %v, want %d with a reason and no signature", status, m, tc.status)
			}
		})
	}
	// A missing or widened range is no refusal: the rewrite replaces it
	// with the rule's (TestS3FineUploaderPolicyOnVersitygw uploads past
	// it and is refused by storage).
	for _, rng := range []string{"", `,["content-length-range","0","99999999999"]`} {
		body := policy(func(c []string) []string { return c })
		body = bytes.Replace(body, []byte("]}"), []byte(rng+"]}"), 1)
		status, m := f.api("POST", "/s3/sign?v4=true", "application/json", body)
		if status != 200 {
			t.Fatalf("range %q: %d %v", rng, status, m)
		}
		doc, _ := base64Decode(m["policy"].(string))
		if !strings.HasSuffix(doc, `["content-length-range",0,1048576]]}`) || strings.Contains(doc, "99999999999") {
			t.Errorf("range %q rewritten to %s", rng, doc)
		}
	}
}

func base64Decode(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}
