package sqsemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// front stands before goaws: it checks each request's SigV4 signature
// against the run's key, translates the AWS JSON 1.0 protocol that
// aws-sdk-go-v2's SQS client speaks into the Query protocol that goaws
// speaks, and translates goaws's XML answers back into JSON. It adds no
// queue behaviour of its own: what a queue does is goaws's.
type front struct {
	// backend is goaws's URL, http://127.0.0.1:PORT.
	backend string
	// self is the front's own URL: queue URLs are rewritten to it, so that
	// a client given only a queue URL reaches the front.
	self                   string
	access, secret, region string
	client                 *http.Client
	now                    func() time.Time
}

// maxRequest bounds a request body: SQS's largest message, 1 MiB, and
// room for the rest of the request.
const maxRequest = 1<<20 + 64<<10

// signatureWindow is how far a request's X-Amz-Date may be from the
// front's clock, as on AWS.
const signatureWindow = 15 * time.Minute

// operations are the SQS operations the front translates, with the
// parameters each may carry. A request with anything else is refused,
// so that a test never runs on a silently dropped parameter.
var operations = map[string][]string{
	"CreateQueue":             {"QueueName", "Attributes"},
	"GetQueueUrl":             {"QueueName", "QueueOwnerAWSAccountId"},
	"GetQueueAttributes":      {"QueueUrl", "AttributeNames"},
	"SetQueueAttributes":      {"QueueUrl", "Attributes"},
	"ListQueues":              {"QueueNamePrefix"},
	"SendMessage":             {"QueueUrl", "MessageBody", "DelaySeconds"},
	"ReceiveMessage":          {"QueueUrl", "MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds", "AttributeNames", "MessageSystemAttributeNames"},
	"DeleteMessage":           {"QueueUrl", "ReceiptHandle"},
	"ChangeMessageVisibility": {"QueueUrl", "ReceiptHandle", "VisibilityTimeout"},
	"PurgeQueue":              {"QueueUrl"},
	"DeleteQueue":             {"QueueUrl"},
}

// listMembers name the members of the Query protocol's flattened lists.
var listMembers = map[string]string{
	"AttributeNames":              "AttributeName",
	"MessageSystemAttributeNames": "MessageSystemAttributeName",
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if r.Method != http.MethodPost || !ok || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.0") {
		jsonError(w, http.StatusBadRequest, "InvalidAction", "", "sqsemu takes POST requests of the AWS JSON 1.0 protocol with X-Amz-Target: AmazonSQS.OPERATION")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil || len(body) > maxRequest {
		jsonError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "", "request unreadable or larger than 1 MiB")
		return
	}
	if status, code, msg := f.verify(r, body); status != 0 {
		jsonError(w, status, code, "", msg)
		return
	}
	if _, ok := operations[op]; !ok {
		jsonError(w, http.StatusBadRequest, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "sqsemu does not translate "+op)
		return
	}
	form, err := queryForm(op, body)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "InvalidParameterValue", "InvalidParameterValue", err.Error())
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, f.backend+"/", strings.NewReader(form.Encode()))
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "InternalFailure", "", err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.client.Do(req)
	if err != nil {
		// goaws answers some bad requests by panicking, which closes the
		// connection.
		jsonError(w, http.StatusInternalServerError, "InternalFailure", "", "goaws gave no answer: "+err.Error())
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "InternalFailure", "", "goaws's answer unreadable: "+err.Error())
		return
	}
	if resp.StatusCode != http.StatusOK {
		status, typ, query, msg := translateError(op, resp.StatusCode, out)
		jsonError(w, status, typ, query, msg)
		return
	}
	doc, err := f.translateResult(op, out)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "InternalFailure", "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_, _ = w.Write(doc) // the client has gone
}

// verify checks r's SigV4 signature as AWS does: the run's access key, a
// credential scoped to the region and sqs, a fresh date, and the signature
// itself, computed again over the headers the client signed. It returns 0
// when the request is good, else the status, error type and message AWS
// would give.
func (f *front) verify(r *http.Request, body []byte) (int, string, string) {
	const forbidden = http.StatusForbidden
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return forbidden, "MissingAuthenticationToken", "requests must be signed with AWS Signature Version 4"
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return forbidden, "IncompleteSignature", "the Credential of the Authorization header is malformed"
	}
	if scope[0] != f.access {
		return forbidden, "InvalidClientTokenId", "the security token included in the request is invalid"
	}
	if scope[2] != f.region || scope[3] != "sqs" {
		return forbidden, "SignatureDoesNotMatch", fmt.Sprintf("credential should be scoped to region %s and service sqs", f.region)
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return forbidden, "IncompleteSignature", "X-Amz-Date is missing or malformed"
	}
	if d := f.now().Sub(at); d > signatureWindow || d < -signatureWindow {
		return forbidden, "SignatureDoesNotMatch", "signature expired: X-Amz-Date is more than 15 minutes from the server's time"
	}
	clone, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return forbidden, "SignatureDoesNotMatch", "the request cannot be signed again"
	}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		switch h {
		case "host":
		case "content-length":
			clone.ContentLength = int64(len(body))
		default:
			clone.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	if !slices.Contains(strings.Split(fields["SignedHeaders"], ";"), "content-length") {
		clone.ContentLength = 0
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: f.access, SecretAccessKey: f.secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, clone, hex.EncodeToString(sum[:]), "sqs", f.region, at); err != nil {
		return forbidden, "SignatureDoesNotMatch", "the request cannot be signed again"
	}
	want := clone.Header.Get("Authorization")
	if subtle.ConstantTimeCompare([]byte(want), []byte(auth)) != 1 {
		return forbidden, "SignatureDoesNotMatch", "the request signature we calculated does not match the signature you provided"
	}
	return 0, "", ""
}

// queryForm turns a JSON request of operation op into the Query
// protocol's form.
func queryForm(op string, body []byte) (url.Values, error) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("request body is not a JSON object: %w", err)
	}
	form := url.Values{"Action": {op}, "Version": {"2012-11-05"}}
	allowed := operations[op]
	for name, raw := range in {
		if !slices.Contains(allowed, name) {
			return nil, fmt.Errorf("sqsemu does not translate %s of %s", name, op)
		}
		switch {
		case name == "Attributes":
			var attrs map[string]string
			if err := json.Unmarshal(raw, &attrs); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			keys := make([]string, 0, len(attrs))
			for k := range attrs {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for i, k := range keys {
				form.Set(fmt.Sprintf("Attribute.%d.Name", i+1), k)
				form.Set(fmt.Sprintf("Attribute.%d.Value", i+1), attrs[k])
			}
		case listMembers[name] != "":
			var list []string
			if err := json.Unmarshal(raw, &list); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for i, v := range list {
				form.Set(fmt.Sprintf("%s.%d", listMembers[name], i+1), v)
			}
		default:
			var s string
			if err := json.Unmarshal(raw, &s); err == nil {
				form.Set(name, s)
				continue
			}
			var n json.Number
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&n); err != nil {
				return nil, fmt.Errorf("%s: want a string or a number", name)
			}
			form.Set(name, n.String())
		}
	}
	return form, nil
}

// queryResult holds what any translated operation's XML result carries.
type queryResult struct {
	QueueURLs        []string        `xml:"QueueUrl"`
	MessageID        string          `xml:"MessageId"`
	MD5OfMessageBody string          `xml:"MD5OfMessageBody"`
	Attributes       []queryAttr     `xml:"Attribute"`
	Messages         []queryMessages `xml:"Message"`
}

type queryAttr struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

type queryMessages struct {
	MessageID     string      `xml:"MessageId"`
	ReceiptHandle string      `xml:"ReceiptHandle"`
	MD5OfBody     string      `xml:"MD5OfBody"`
	Body          string      `xml:"Body"`
	Attributes    []queryAttr `xml:"Attribute"`
}

// translateResult turns goaws's XML answer to op into the JSON result.
func (f *front) translateResult(op string, doc []byte) ([]byte, error) {
	var res queryResult
	if err := decodeElement(doc, op+"Result", &res); err != nil {
		return nil, err
	}
	out := map[string]any{}
	switch op {
	case "CreateQueue", "GetQueueUrl":
		if len(res.QueueURLs) != 1 {
			return nil, fmt.Errorf("goaws answered %s without a queue URL", op)
		}
		out["QueueUrl"] = f.rewrite(res.QueueURLs[0])
	case "ListQueues":
		urls := []string{}
		for _, u := range res.QueueURLs {
			urls = append(urls, f.rewrite(u))
		}
		out["QueueUrls"] = urls
	case "GetQueueAttributes":
		out["Attributes"] = attrMap(res.Attributes)
	case "SendMessage":
		out["MessageId"], out["MD5OfMessageBody"] = res.MessageID, res.MD5OfMessageBody
	case "ReceiveMessage":
		msgs := []map[string]any{}
		for _, m := range res.Messages {
			msgs = append(msgs, map[string]any{
				"MessageId": m.MessageID, "ReceiptHandle": m.ReceiptHandle,
				"MD5OfBody": m.MD5OfBody, "Body": m.Body, "Attributes": attrMap(m.Attributes),
			})
		}
		if len(msgs) > 0 {
			out["Messages"] = msgs
		}
	}
	return json.Marshal(out)
}

// rewrite puts the front's address in a queue URL of goaws's.
func (f *front) rewrite(u string) string {
	if rest, ok := strings.CutPrefix(u, f.backend); ok {
		return f.self + rest
	}
	return u
}

func attrMap(attrs []queryAttr) map[string]string {
	m := map[string]string{}
	for _, a := range attrs {
		m[a.Name] = a.Value
	}
	return m
}

// decodeElement decodes the first element called name in doc into v; an
// answer without one decodes to v's zero value.
func decodeElement(doc []byte, name string, v any) error {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("goaws's answer is not XML: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			return dec.DecodeElement(v, &se)
		}
	}
}

// translateError maps goaws's XML error for op to the JSON error type
// aws-sdk-go-v2 knows and SQS's Query error code, with the status.
func translateError(op string, status int, doc []byte) (int, string, string, string) {
	var e struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if err := decodeElement(doc, "Error", &e); err != nil || e.Code == "" {
		return http.StatusInternalServerError, "InternalFailure", "", fmt.Sprintf("goaws answered %d: %s", status, bytes.TrimSpace(doc))
	}
	switch {
	case e.Code == "AWS.SimpleQueueService.NonExistentQueue":
		return http.StatusBadRequest, "QueueDoesNotExist", e.Code, e.Message
	case op == "DeleteMessage" && e.Type == "Not Found":
		// goaws refuses a receipt handle it does not hold (its code reads
		// QueueExists); SQS calls that an invalid receipt handle.
		return http.StatusBadRequest, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", e.Message
	case e.Code == "AWS.SimpleQueueService.MessageNotInFlight":
		return http.StatusBadRequest, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", e.Message
	}
	typ := e.Code[strings.LastIndex(e.Code, ".")+1:]
	return status, typ, e.Code, e.Message
}

// jsonError answers with an AWS JSON 1.0 error, and the Query error code
// in x-amzn-query-error, as SQS does.
func jsonError(w http.ResponseWriter, status int, typ, queryCode, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if queryCode != "" {
		fault := "Sender"
		if status >= 500 {
			fault = "Receiver"
		}
		w.Header().Set("x-amzn-query-error", queryCode+";"+fault)
	}
	w.WriteHeader(status)
	doc, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.sqs#" + typ, "message": msg})
	_, _ = w.Write(doc) // the client has gone
}
