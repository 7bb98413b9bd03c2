package s3sign

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// SignRequest is the body of Fine Uploader's signature request: a REST
// string ({"headers": "…"}) or a policy document; one of the two is set.
type SignRequest struct {
	REST   *REST
	Policy *Policy
}

// ParseSignRequest parses the body of Fine Uploader's v4 signature
// request. Errors are *errs.Error values (Invalid).
func ParseSignRequest(body []byte) (SignRequest, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return SignRequest{}, malformed(opPolicy, "the body is not a JSON object", err)
	}
	if _, ok := probe["headers"]; !ok {
		p, err := ParsePolicy(body)
		if err != nil {
			return SignRequest{}, err
		}
		return SignRequest{Policy: &p}, nil
	}
	var raw struct {
		Headers string `json:"headers"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&raw); err != nil {
		return SignRequest{}, malformed(opREST, `the body is not {"headers": "<string to sign>"}`, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return SignRequest{}, malformed(opREST, "the body is followed by more data", nil)
	}
	r, err := ParseREST(raw.Headers)
	if err != nil {
		return SignRequest{}, err
	}
	return SignRequest{REST: &r}, nil
}
