package s3sign_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blobvalet/blobvalet/internal/emulator"
	"github.com/blobvalet/blobvalet/s3emu"
	"github.com/blobvalet/blobvalet/s3emu/s3emutest"
	"github.com/blobvalet/blobvalet/s3sign"
)

// gw is a versitygw that takes virtual-hosted requests for
// <bucket>.localhost:<port>, as Fine Uploader's v4 chunking needs, with
// buckets bv-stage and bv-final, and signers of its root key.
type gw struct {
	t    *testing.T
	emu  *s3emu.Server
	host string // bv-stage.localhost:<port>
	// virtual signs for the virtual host, path for path-style URLs.
	virtual, path *s3sign.Signer
	http          *http.Client
}

func startGW(t *testing.T) *gw {
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
	emu := s3emutest.StartOptions(t, s3emu.Options{Port: ports[0]}, "bv-stage", "bv-final")
	g := &gw{t: t, emu: emu, host: "bv-stage.localhost:" + port}
	cfg := s3sign.Config{
		AccessKeyID: emu.AccessKey(), SecretAccessKey: emu.SecretKey(), Region: s3emu.Region,
		Bucket: "bv-stage", Endpoint: emu.Endpoint(), Host: g.host, ACL: s3sign.ACLPrivate,
	}
	now := time.Now
	if g.virtual, err = s3sign.New(cfg, now); err != nil {
		t.Fatal(err)
	}
	cfg.PathStyle = true
	if g.path, err = s3sign.New(cfg, now); err != nil {
		t.Fatal(err)
	}
	// Every host name goes to the emulator: *.localhost need not resolve.
	dial := &net.Dialer{Timeout: 5 * time.Second}
	g.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial.DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}}
	return g
}

// do sends req and returns its status and body.
func (g *gw) do(req *http.Request) (int, string) {
	g.t.Helper()
	resp, err := g.http.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sendREST sends the request a REST string describes, as Fine Uploader
// does: its canonical headers, Content-Type unsigned, and the
// Authorization header with sig.
func (g *gw) sendREST(str, sig string, body []byte) (int, string, http.Header) {
	g.t.Helper()
	r, err := s3sign.ParseREST(str)
	if err != nil {
		g.t.Fatal(err)
	}
	u := "http://" + g.host + r.Path
	if r.Query != "" {
		u += "?" + r.Query
	}
	req, _ := http.NewRequest(r.Method, u, bytes.NewReader(body))
	for _, h := range r.Headers {
		if h.Name != "host" {
			req.Header.Set(h.Name, h.Value)
		}
	}
	req.Host = mustHeader(r, "host")
	req.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s,SignedHeaders=%s,Signature=%s",
		g.emu.AccessKey(), r.Scope, strings.Join(r.SignedHeaders, ";"), sig))
	resp, err := g.http.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func mustHeader(r s3sign.REST, name string) string {
	for _, h := range r.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// signChecked asks the signer as blobvalet does: parse, check, sign.
func (g *gw) signChecked(str string) (s3sign.Checked, string) {
	g.t.Helper()
	r, err := s3sign.ParseREST(str)
	if err != nil {
		g.t.Fatal(err)
	}
	c, err := g.virtual.CheckREST(r)
	if err != nil {
		g.t.Fatalf("refused %q: %v", str, err)
	}
	return c, g.virtual.SignREST(c)
}

// forge signs str without any check, as a signer that signs whatever it
// is shown would.
func (g *gw) forge(str string) string {
	r, err := s3sign.ParseREST(str)
	if err != nil {
		g.t.Fatal(err)
	}
	_, canonical, _ := strings.Cut(str, r.Scope+"\n")
	k := s3sign.SigningKey([]byte(g.emu.SecretKey()), r.Date.UTC().Format("20060102"), s3emu.Region, "s3")
	return s3sign.Signature(k, s3sign.StringToSign(r.Date, r.Scope, canonical))
}

func (g *gw) get(bucket, key string) (string, map[string]string, error) {
	out, err := g.emu.Client().GetObject(context.Background(), &s3sdk.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", nil, err
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b), out.Metadata, nil
}

func (g *gw) put(bucket, key, body string) {
	g.t.Helper()
	if _, err := g.emu.Client().PutObject(context.Background(), &s3sdk.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		g.t.Fatal(err)
	}
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fuREST is a REST string as Fine Uploader builds it now for the gateway.
func (g *gw) fuREST(method, key, query string, extra [][2]string, payload string) string {
	now := time.Now().UTC()
	h := [][2]string{{"host", g.host}, {"x-amz-content-sha256", payload}, {"x-amz-date", now.Format("20060102T150405Z")}}
	h = append(h, extra...)
	sortHeaders(h)
	return restString(now, s3emu.Region, method, "/"+uriEscapePath(key), query, h, payload)
}

// uriEscapePath escapes a key as Fine Uploader's uriEscapePath does.
func uriEscapePath(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

type completeXML struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber int
		ETag       string
	} `xml:"Part"`
}

func completeBody(etags ...string) []byte {
	var c completeXML
	for i, e := range etags {
		c.Parts = append(c.Parts, struct {
			PartNumber int
			ETag       string
		}{i + 1, e})
	}
	b, _ := xml.Marshal(c)
	return b
}

// TestFineUploaderRESTAgainstVersitygw replays Fine Uploader's chunked
// upload, initiate, two parts, complete, and an aborted one, with the
// signatures blobvalet returns: versitygw, which checks every signature,
// accepts each.
func TestFineUploaderRESTAgainstVersitygw(t *testing.T) {
	g := startGW(t)
	const key = "YWxpY2U/bv-final/users/alice/big file é (1)!.bin"
	c, sig := g.signChecked(g.fuREST("POST", key, "uploads=", [][2]string{{"x-amz-acl", "private"}, {"x-amz-meta-qqfilename", "big%20file.bin"}}, s3sign.EmptyPayloadHash))
	if c.Key != key || c.Op != s3sign.Initiate {
		t.Fatalf("checked %+v", c)
	}
	status, body, _ := g.sendREST(g.fuREST("POST", key, "uploads=", [][2]string{{"x-amz-acl", "private"}, {"x-amz-meta-qqfilename", "big%20file.bin"}}, s3sign.EmptyPayloadHash), sig, nil)
	if status != http.StatusOK {
		t.Fatalf("initiate: %d %s", status, body)
	}
	var init struct{ UploadId string }
	if err := xml.Unmarshal([]byte(body), &init); err != nil || init.UploadId == "" {
		t.Fatalf("initiate answer %s: %v", body, err)
	}
	idQ := "uploadId=" + uriEscapePath(init.UploadId)
	parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("the end")}
	var etags []string
	for i, p := range parts {
		str := g.fuREST("PUT", key, "partNumber="+strconv.Itoa(i+1)+"&"+idQ, nil, hashHex(p))
		c, sig := g.signChecked(str)
		if c.Op != s3sign.Part || c.PartNumber != i+1 || c.UploadID != init.UploadId {
			t.Fatalf("checked %+v", c)
		}
		status, body, h := g.sendREST(str, sig, p)
		if status != http.StatusOK || h.Get("ETag") == "" {
			t.Fatalf("part %d: %d %s", i+1, status, body)
		}
		etags = append(etags, h.Get("ETag"))
	}
	xmlBody := completeBody(etags...)
	str := g.fuREST("POST", key, idQ, nil, hashHex(xmlBody))
	_, sig = g.signChecked(str)
	if status, body, _ := g.sendREST(str, sig, xmlBody); status != http.StatusOK || !strings.Contains(body, "<Bucket>bv-stage</Bucket>") {
		t.Fatalf("complete: %d %s", status, body)
	}
	got, md, err := g.get("bv-stage", key)
	if err != nil || got != string(parts[0])+string(parts[1]) || md["qqfilename"] != "big%20file.bin" {
		t.Fatalf("object: %d bytes, %v, %v", len(got), md, err)
	}

	// An upload cancelled with resume on: the abort Fine Uploader sends.
	str = g.fuREST("POST", key+"2", "uploads=", [][2]string{{"x-amz-acl", "private"}}, s3sign.EmptyPayloadHash)
	_, sig = g.signChecked(str)
	_, body, _ = g.sendREST(str, sig, nil)
	if err := xml.Unmarshal([]byte(body), &init); err != nil {
		t.Fatal(err)
	}
	str = g.fuREST("DELETE", key+"2", "uploadId="+uriEscapePath(init.UploadId), nil, s3sign.EmptyPayloadHash)
	_, sig = g.signChecked(str)
	if status, body, _ := g.sendREST(str, sig, nil); status != http.StatusNoContent {
		t.Fatalf("abort: %d %s", status, body)
	}
}

// TestForgedRESTWouldWork shows why each refusal matters: each forged
// request, signed by a signer that checks nothing, works on versitygw;
// CheckREST refuses every one.
func TestForgedRESTWouldWork(t *testing.T) {
	g := startGW(t)
	const bobs = "Ym9i/bv-final/users/bob/secret.txt"
	g.put("bv-stage", bobs, "bob's unverified upload")
	g.put("bv-final", "users/bob/final.txt", "bob's private file")
	const mine = "YWxpY2U/bv-final/users/alice/a.txt"
	for _, tc := range []struct {
		name   string
		str    func() string
		body   []byte
		status int
		reason string
	}{
		{"GET another user's staged object", func() string { return g.fuREST("GET", bobs, "", nil, s3sign.EmptyPayloadHash) }, nil, 200, "GET with query"},
		{"DELETE another user's staged object", func() string { return g.fuREST("DELETE", bobs, "", nil, s3sign.EmptyPayloadHash) }, nil, 204, "DELETE with query"},
		{"copy out of the final bucket", func() string {
			return g.fuREST("PUT", mine, "", [][2]string{{"x-amz-copy-source", "/bv-final/users/bob/final.txt"}}, s3sign.EmptyPayloadHash)
		}, nil, 200, "PUT with query"},
		{"public-read initiate", func() string {
			return g.fuREST("POST", mine, "uploads=", [][2]string{{"x-amz-acl", "public-read"}}, s3sign.EmptyPayloadHash)
		}, nil, 200, `x-amz-acl "public-read"`},
		{"grant on initiate", func() string {
			return g.fuREST("POST", mine, "uploads=", [][2]string{{"x-amz-acl", "private"}, {"x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""}}, s3sign.EmptyPayloadHash)
		}, nil, 200, "x-amz-grant-read"},
		{"another host: the final bucket", func() string {
			now := time.Now().UTC()
			h := [][2]string{{"host", strings.Replace(g.host, "bv-stage", "bv-final", 1)}, {"x-amz-acl", "private"}, {"x-amz-content-sha256", s3sign.EmptyPayloadHash}, {"x-amz-date", now.Format("20060102T150405Z")}}
			return restString(now, s3emu.Region, "POST", "/users/bob/final.txt", "uploads=", h, s3sign.EmptyPayloadHash)
		}, nil, 200, "not the staging bucket's host"},
		{"an old date", func() string {
			old := time.Now().UTC().Add(-8 * time.Minute)
			h := [][2]string{{"host", g.host}, {"x-amz-acl", "private"}, {"x-amz-content-sha256", s3sign.EmptyPayloadHash}, {"x-amz-date", old.Format("20060102T150405Z")}}
			return restString(old, s3emu.Region, "POST", "/"+uriEscapePath(mine), "uploads=", h, s3sign.EmptyPayloadHash)
		}, nil, 200, "from the server's time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			str := tc.str()
			r, err := s3sign.ParseREST(str)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.virtual.CheckREST(r); err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("CheckREST: %v, want a refusal with %q", err, tc.reason)
			}
			status, body, _ := g.sendREST(str, g.forge(str), tc.body)
			if status != tc.status {
				t.Errorf("forged request: %d %s, want %d: the refusal would not matter", status, body, tc.status)
			}
		})
	}
	// The forged copy did copy bob's final file into alice's staging key.
	if got, _, err := g.get("bv-stage", mine); err != nil || got != "bob's private file" {
		t.Errorf("forged copy: %q, %v", got, err)
	}
}

// postForm posts a browser upload with a policy, as Fine Uploader's simple
// upload does, and returns the status and body.
func (g *gw) postForm(fields [][2]string, content []byte) (int, string) {
	g.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		w.WriteField(f[0], f[1])
	}
	fw, _ := w.CreateFormFile("file", "small note.txt")
	fw.Write(content)
	w.Close()
	req, _ := http.NewRequest("POST", "http://"+g.host+"/", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return g.do(req)
}

// fuPolicy is a policy as Fine Uploader builds it now, with the form
// fields that go with it.
func (g *gw) fuPolicy(key string, extra ...[2]string) (string, [][2]string) {
	now := time.Now().UTC()
	fields := [][2]string{
		{"acl", "private"}, {"bucket", "bv-stage"}, {"Content-Type", "text/plain"}, {"success_action_status", "200"},
		{"x-amz-algorithm", "AWS4-HMAC-SHA256"}, {"key", key},
		{"x-amz-credential", g.emu.AccessKey() + "/" + now.Format("20060102") + "/" + s3emu.Region + "/s3/aws4_request"},
		{"x-amz-date", now.Format("20060102T150405Z")}, {"x-amz-meta-qqfilename", "small%20note.txt"},
	}
	fields = append(fields, extra...)
	var conds []string
	for _, f := range fields {
		conds = append(conds, fmt.Sprintf("{%q:%q}", f[0], f[1]))
	}
	doc := fmt.Sprintf(`{"expiration":%q,"conditions":[%s,["content-length-range","0","99999999"]]}`, now.Add(5*time.Minute).Format("2006-01-02T15:04:05.000Z"), strings.Join(conds, ","))
	var form [][2]string
	for _, f := range fields {
		if f[0] != "bucket" {
			form = append(form, f)
		}
	}
	return doc, form
}

// TestPolicyAgainstVersitygw uploads with the policy blobvalet rewrote
// and signed: accepted within the rule's size, refused above it although
// the page asked for more, and refused for any other key.
func TestPolicyAgainstVersitygw(t *testing.T) {
	g := startGW(t)
	const key = "YWxpY2U/bv-final/users/alice/small note.txt"
	doc, form := g.fuPolicy(key)
	p, err := s3sign.ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.virtual.CheckPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	a, err := g.virtual.SignPolicy(c, 16, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	form = append(form, [2]string{"policy", a.Policy}, [2]string{"x-amz-signature", a.Signature})
	if status, body := g.postForm(form, []byte("hello, world")); status != http.StatusOK {
		t.Fatalf("upload: %d %s", status, body)
	}
	if got, _, err := g.get("bv-stage", key); err != nil || got != "hello, world" {
		t.Fatalf("object %q, %v", got, err)
	}
	// The page asked for up to 99999999 bytes; the rule allows 16.
	if status, body := g.postForm(form, []byte("seventeen bytes!!")); status != http.StatusBadRequest || !strings.Contains(body, "EntityTooLarge") {
		t.Errorf("17 bytes against a 16-byte rule: %d %s", status, body)
	}
	// The signature binds the key: another key's form is refused.
	other := append([][2]string(nil), form...)
	for i := range other {
		if other[i][0] == "key" {
			other[i][1] = "Ym9i/bv-final/users/bob/x.txt"
		}
	}
	if status, body := g.postForm(other, []byte("x")); status != http.StatusForbidden {
		t.Errorf("another key: %d %s", status, body)
	}
	// And a field outside the policy: a public ACL.
	public := append([][2]string(nil), form...)
	public[0] = [2]string{"acl", "public-read"}
	if status, body := g.postForm(public, []byte("x")); status != http.StatusForbidden {
		t.Errorf("public-read against the policy: %d %s", status, body)
	}
}

// TestPresignedAgainstVersitygw uploads as Uppy does through presigned
// URLs: a PutObject, and a multipart upload created, listed, uploaded,
// completed; another aborted. A URL does nothing but its own request.
func TestPresignedAgainstVersitygw(t *testing.T) {
	g := startGW(t)
	for name, s := range map[string]*s3sign.Signer{"path style": g.path, "virtual host": g.virtual} {
		t.Run(name, func(t *testing.T) {
			key := "YWxpY2U/bv-final/users/alice/" + strings.ReplaceAll(name, " ", "-") + "/é (1).bin"
			presign := func(op s3sign.Op, key, id string, part int) string {
				u, err := s.Presign(op, key, id, part, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				return u
			}
			send := func(method, u string, body []byte) (int, string, http.Header) {
				req, _ := http.NewRequest(method, u, bytes.NewReader(body))
				resp, err := g.http.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b), resp.Header
			}
			put := presign(s3sign.Put, key+".small", "", 0)
			if status, body, _ := send("PUT", put, []byte("small")); status != http.StatusOK {
				t.Fatalf("put: %d %s", status, body)
			}
			if got, _, err := g.get("bv-stage", key+".small"); err != nil || got != "small" {
				t.Fatalf("put object %q, %v", got, err)
			}
			// The PUT URL deletes nothing, and writes no other key.
			if status, _, _ := send("DELETE", put, nil); status != http.StatusForbidden {
				t.Errorf("PUT URL used to DELETE: %d", status)
			}
			if status, _, _ := send("PUT", strings.Replace(put, ".small", ".other", 1), []byte("x")); status != http.StatusForbidden {
				t.Errorf("PUT URL for another key: %d", status)
			}

			status, body, _ := send("POST", presign(s3sign.Initiate, key, "", 0), nil)
			var init struct{ UploadId string }
			if err := xml.Unmarshal([]byte(body), &init); status != http.StatusOK || err != nil {
				t.Fatalf("create: %d %s", status, body)
			}
			parts := [][]byte{bytes.Repeat([]byte("b"), 5<<20), []byte("end")}
			var etags []string
			for i, p := range parts {
				u := presign(s3sign.Part, key, init.UploadId, i+1)
				status, body, h := send("PUT", u, p)
				if status != http.StatusOK {
					t.Fatalf("part %d: %d %s", i+1, status, body)
				}
				etags = append(etags, h.Get("ETag"))
				if i == 1 {
					// A part URL replayed for another part number.
					if status, _, _ := send("PUT", strings.Replace(u, "partNumber=2", "partNumber=3", 1), p); status != http.StatusForbidden {
						t.Errorf("part URL for part 3: %d", status)
					}
				}
			}
			if status, body, _ := send("GET", presign(s3sign.ListParts, key, init.UploadId, 0), nil); status != http.StatusOK || strings.Count(body, "<Part>") != 2 {
				t.Errorf("list parts: %d %s", status, body)
			}
			if status, body, _ := send("POST", presign(s3sign.Complete, key, init.UploadId, 0), completeBody(etags...)); status != http.StatusOK || !strings.Contains(body, "<Key>") {
				t.Fatalf("complete: %d %s", status, body)
			}
			if got, _, err := g.get("bv-stage", key); err != nil || len(got) != 5<<20+3 {
				t.Fatalf("multipart object: %d bytes, %v", len(got), err)
			}
			_, body, _ = send("POST", presign(s3sign.Initiate, key+"2", "", 0), nil)
			if err := xml.Unmarshal([]byte(body), &init); err != nil {
				t.Fatal(err)
			}
			if status, body, _ := send("DELETE", presign(s3sign.Abort, key+"2", init.UploadId, 0), nil); status != http.StatusNoContent {
				t.Errorf("abort: %d %s", status, body)
			}
		})
	}
}
