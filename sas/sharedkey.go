package sas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// SharedKeySigner signs blob SAS URIs with an account's shared key.
//
// It computes what azblob's BlobSignatureValues.SignWithSharedKey followed
// by QueryParameters.Encode computes for a blob SAS with an expiry and no
// start time, byte for byte (the tests compare the two on random and fuzzed
// input), but in one buffer and with an HMAC keyed once: signing is on every
// /sas request, and the SDK's general form allocates some thirty times per
// signature.
type SharedKeySigner struct {
	resolver *blobref.Resolver
	account  string
	protocol string // as signed
	// queryTail is the query after "spr=": the escaped protocol, sr and sv,
	// which are the same for every SAS.
	queryTail string
	states    sync.Pool // of *signState
	// prefixes maps a container to its URL with a trailing "/", copied on
	// write: the containers are few and fixed.
	prefixes atomic.Pointer[map[string]string]
}

// signState is one signature's scratch space.
type signState struct {
	mac hash.Hash // HMAC-SHA256 keyed with the account key
	sts []byte    // string to sign
	out []byte    // URL and query
	sum [sha256.Size]byte
	sig [44]byte // base64 of sum
}

// NewSharedKeySigner returns a SharedKeySigner for blobs under resolver's
// endpoint, signing as account with key, the account key in base64 as the
// portal shows it. allowHTTP permits plain http, for an emulator on
// loopback only: Azure itself is always reached over https.
func NewSharedKeySigner(resolver *blobref.Resolver, account, key string, allowHTTP bool) (*SharedKeySigner, error) {
	if resolver == nil || account == "" {
		return nil, errors.New("sas: signer needs a resolver and an account")
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) == 0 {
		return nil, errors.New("sas: the account key is not base64")
	}
	p := azsas.ProtocolHTTPS
	if allowHTTP {
		p = azsas.ProtocolHTTPSandHTTP
	}
	s := &SharedKeySigner{
		resolver:  resolver,
		account:   account,
		protocol:  string(p),
		queryTail: string(appendQueryEscape(nil, string(p))) + "&sr=b&sv=" + string(appendQueryEscape(nil, azsas.Version)),
	}
	s.states.New = func() any { return &signState{mac: hmac.New(sha256.New, raw)} }
	s.prefixes.Store(&map[string]string{})
	return s, nil
}

// Sign returns "<blob URL>?<SAS query>" granting access to ref until expiry.
// The SAS has no start time, so a clock that runs behind Azure's cannot make
// it not yet valid.
func (s *SharedKeySigner) Sign(ref blobref.Ref, access blobstore.Access, expiry time.Time) (string, error) {
	sp := permissions(access)
	if expiry.IsZero() || sp == "" {
		return "", fmt.Errorf("sas: sign %s: %w", ref, errMissing)
	}
	if ref.Name == "" {
		// The SDK would sign for the whole container.
		return "", fmt.Errorf("sas: sign %s: no blob name", ref)
	}
	expiry = expiry.UTC()
	st := s.states.Get().(*signState)
	defer s.states.Put(st)

	// The string to sign of a blob service SAS: the fields of
	// https://learn.microsoft.com/rest/api/storageservices/create-service-sas
	// in order, empty ones included. The name is signed unescaped.
	b := append(st.sts[:0], sp...)
	b = append(b, '\n', '\n')
	se := len(b)
	b = expiry.AppendFormat(b, azsas.TimeFormat)
	seEnd := len(b)
	b = append(b, "\n/blob/"...)
	b = append(b, s.account...)
	b = append(b, '/')
	b = append(b, ref.Container...)
	b = append(b, '/')
	b = appendReplacingBackslash(b, string(ref.Name))
	b = append(b, "\n\n\n"...) // identifier, IP range
	b = append(b, s.protocol...)
	b = append(b, '\n')
	b = append(b, azsas.Version...)
	b = append(b, "\nb\n\n\n\n\n\n\n"...) // resource, then snapshot, encryption scope and five response headers, all empty
	st.sts = b
	st.mac.Reset()
	st.mac.Write(b)
	base64.StdEncoding.Encode(st.sig[:], st.mac.Sum(st.sum[:0]))

	// The query as url.Values.Encode writes it: keys sorted, values
	// query-escaped.
	o := append(st.out[:0], s.prefix(ref.Container)...)
	o = appendPathEscape(o, string(ref.Name))
	o = append(o, "?se="...)
	o = appendQueryEscape(o, b[se:seEnd])
	o = append(o, "&sig="...)
	o = appendQueryEscape(o, st.sig[:])
	o = append(o, "&sp="...)
	o = append(o, sp...)
	o = append(o, "&spr="...)
	o = append(o, s.queryTail...)
	st.out = o
	return string(o), nil
}

// maxPrefixes bounds the container URLs kept: a service signs for a few.
const maxPrefixes = 64

// prefix returns the URL of container with a trailing "/".
func (s *SharedKeySigner) prefix(container string) string {
	m := *s.prefixes.Load()
	if p, ok := m[container]; ok {
		return p
	}
	p := s.resolver.URL(blobref.Ref{Container: container})
	if len(m) >= maxPrefixes {
		return p
	}
	for {
		old := s.prefixes.Load()
		next := make(map[string]string, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
		next[container] = p
		if s.prefixes.CompareAndSwap(old, &next) {
			return p
		}
	}
}

// appendReplacingBackslash appends name with every "\" as "/", as the SDK
// signs it.
func appendReplacingBackslash(b []byte, name string) []byte {
	for {
		i := strings.IndexByte(name, '\\')
		if i < 0 {
			return append(b, name...)
		}
		b = append(b, name[:i]...)
		b = append(b, '/')
		name = name[i+1:]
	}
}

const upperhex = "0123456789ABCDEF"

// appendQueryEscape appends s escaped as url.QueryEscape does.
func appendQueryEscape[T string | []byte](b []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case unreserved(c):
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}

// appendPathEscape appends a blob name as blobref.Name.Escaped does:
// each "/"-separated segment as url.PathEscape escapes it.
func appendPathEscape(b []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch c {
		case '/', '$', '&', '+', ':', '=', '@':
			b = append(b, c)
		default:
			if unreserved(c) {
				b = append(b, c)
			} else {
				b = append(b, '%', upperhex[c>>4], upperhex[c&15])
			}
		}
	}
	return b
}

// unreserved reports whether c is one of RFC 3986's unreserved characters,
// which no URL escaping touches.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}
