package sas

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// sdkSigner signs as the SDK does: the reference SharedKeySigner must match.
type sdkSigner struct {
	resolver *blobref.Resolver
	cred     *azblob.SharedKeyCredential
	protocol azsas.Protocol
}

func newSDKSigner(t testing.TB, r *blobref.Resolver, account string, allowHTTP bool) sdkSigner {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(account, testKey)
	if err != nil {
		t.Fatal(err)
	}
	p := azsas.ProtocolHTTPS
	if allowHTTP {
		p = azsas.ProtocolHTTPSandHTTP
	}
	return sdkSigner{resolver: r, cred: cred, protocol: p}
}

// sdkPermissions is the SDK's permission set for an access.
func sdkPermissions(a blobstore.Access) *azsas.BlobPermissions {
	return &azsas.BlobPermissions{Write: a == blobstore.Upload, Delete: a == blobstore.Delete, Read: a == blobstore.Read}
}

// accesses are every access and one on either side.
var accesses = []blobstore.Access{0, blobstore.Upload, blobstore.Delete, blobstore.Read, blobstore.Read + 1}

func (s sdkSigner) Sign(ref blobref.Ref, access blobstore.Access, expiry time.Time) (string, error) {
	q, err := azsas.BlobSignatureValues{
		Protocol:      s.protocol,
		ExpiryTime:    expiry.UTC(),
		Permissions:   sdkPermissions(access).String(),
		ContainerName: ref.Container,
		BlobName:      string(ref.Name),
	}.SignWithSharedKey(s.cred)
	if err != nil {
		return "", err
	}
	return s.resolver.URL(ref) + "?" + q.Encode(), nil
}

// signerPair is the signer and the SDK for one endpoint, account and
// protocol.
type signerPair struct {
	own *SharedKeySigner
	sdk sdkSigner
}

func newSignerPair(t testing.TB, endpoint, account string, containers []string, allowHTTP bool) signerPair {
	t.Helper()
	r, err := blobref.NewResolver(endpoint, containers)
	if err != nil {
		t.Fatal(err)
	}
	own, err := NewSharedKeySigner(r, account, testKey, allowHTTP)
	if err != nil {
		t.Fatal(err)
	}
	return signerPair{own: own, sdk: newSDKSigner(t, r, account, allowHTTP)}
}

// check signs with both and fails unless they agree byte for byte, also
// in refusing. The URIs are not printed: they carry signatures.
func (p signerPair) check(t testing.TB, ref blobref.Ref, access blobstore.Access, expiry time.Time) {
	t.Helper()
	got, gotErr := p.own.Sign(ref, access, expiry)
	if ref.Name == "" {
		// The SDK signs for the whole container; that is never wanted.
		if gotErr == nil {
			t.Fatalf("Sign(%q) with no blob name succeeded", ref)
		}
		return
	}
	want, wantErr := p.sdk.Sign(ref, access, expiry)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("Sign(%q, %q, %v): error %v, SDK's %v", ref, access, expiry, gotErr, wantErr)
	}
	if got != want {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("Sign(%q, %q, %v) differs from the SDK's at byte %d of %d/%d", ref, access, expiry, i, len(got), len(want))
	}
}

// edgeNames are blob names that escaping and signing can get wrong.
var edgeNames = []string{
	"x", "a b", "a+b", "a%b", "a%20b", "a#b", "a?b", "a&b=c", "a;b,c", "a:b@c$d", "~a-b_c.d",
	"users/alice/a b#c?d%e+ü.txt", "ü/ä/ö", "日本語/ファイル.png", "emoji-😀.jpg", "tab\tname", "a\\b\\c",
	"users/alice/" + strings.Repeat("long-name-", 100), strings.Repeat("é", 512), "'quotes\"<>`{}|^[]",
	"a/b/c/d/e/f/g/h", "%zz", "%2e%2e", "\u00a0nbsp", "\x7f", "end.", "dir/",
}

// randomName makes a name of random runes, biased to the characters that
// escaping treats specially.
func randomName(r *rand.Rand) string {
	const special = " /+%#?&=;:,@$!'()*[]~-_.\\\"<>^`{|}"
	var b strings.Builder
	for n := 1 + r.IntN(80); n > 0; n-- {
		switch r.IntN(4) {
		case 0:
			b.WriteByte(special[r.IntN(len(special))])
		case 1:
			b.WriteRune(rune(0x80 + r.IntN(0x2ff80)))
		case 2:
			b.WriteByte(byte(r.IntN(128)))
		default:
			b.WriteByte("abcXYZ019"[r.IntN(9)])
		}
	}
	return b.String()
}

// TestSharedKeySignerMatchesSDK signs varied inputs with both signers and
// compares the whole URI, query and signature included.
func TestSharedKeySignerMatchesSDK(t *testing.T) {
	containers := []string{"uploads", "incoming", "c0-x", "a"}
	pairs := []signerPair{
		newSignerPair(t, "https://acct.blob.core.windows.net", "acct", containers, false),
		newSignerPair(t, "http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", containers, true),
		newSignerPair(t, "https://ACCT.blob.core.windows.net/", "acct", containers, true),
	}
	expiries := []time.Time{
		time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2030, 1, 2, 3, 4, 5, 999999999, time.FixedZone("X", 5*3600+1800)),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(12345, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Unix(0, 0),
		{},
	}
	for _, p := range pairs {
		for _, access := range accesses {
			for _, exp := range expiries {
				for _, c := range containers {
					for _, name := range edgeNames {
						p.check(t, blobref.Ref{Container: c, Name: blobref.Name(name)}, access, exp)
					}
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		p := pairs[r.IntN(len(pairs))]
		access := accesses[r.IntN(len(accesses))]
		exp := time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9))
		p.check(t, blobref.Ref{Container: containers[r.IntN(len(containers))], Name: blobref.Name(randomName(r))}, access, exp)
	}
}

// TestPermissionsMatchSDK checks the "sp" of every access, and pins what
// production issues: the least that lets the holder do it (an upload
// writes, never creates or reads).
func TestPermissionsMatchSDK(t *testing.T) {
	for a, want := range map[blobstore.Access]string{blobstore.Upload: "w", blobstore.Delete: "d", blobstore.Read: "r", 0: "", blobstore.Read + 1: ""} {
		if got, sdk := permissions(a), sdkPermissions(a).String(); got != want || sdk != want {
			t.Errorf("access %d: %q, SDK %q; want %q", a, got, sdk, want)
		}
	}
}

// TestSharedKeySignerConcurrent signs from many goroutines at once: the
// pooled state must not leak from one signature into another.
func TestSharedKeySignerConcurrent(t *testing.T) {
	p := newSignerPair(t, "https://acct.blob.core.windows.net", "acct", []string{"uploads", "shared"}, false)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	done := make(chan error)
	for g := range 8 {
		go func() {
			var err error
			for i := range 500 {
				ref := blobref.Ref{Container: []string{"uploads", "shared"}[i%2], Name: blobref.Name(fmt.Sprintf("g%d/%s/%d", g, strings.Repeat("n", i%50), i))}
				got, _ := p.own.Sign(ref, accesses[1+i%3], exp)
				want, _ := p.sdk.Sign(ref, accesses[1+i%3], exp)
				if got != want && err == nil {
					err = fmt.Errorf("goroutine %d, signature %d differs from the SDK's", g, i)
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// FuzzSignerMatchesSDK compares the signer with the SDK on fuzzed names,
// containers, expiry times and accesses.
func FuzzSignerMatchesSDK(f *testing.F) {
	p := newSignerPair(f, "https://acct.blob.core.windows.net", "acct", nil, false)
	f.Add("uploads", "users/alice/a b#c?d%e+ü.txt", int64(1893553445), int64(0), uint8(6))
	f.Add("incoming", "a\\b", int64(-62135596800), int64(1), uint8(8))
	f.Add("", "", int64(0), int64(0), uint8(0))
	f.Fuzz(func(t *testing.T, container, name string, sec, nsec int64, bits uint8) {
		p.check(t, blobref.Ref{Container: container, Name: blobref.Name(name)}, blobstore.Access(bits%5), time.Unix(sec, nsec))
	})
}

func BenchmarkSign(b *testing.B) {
	p := newSignerPair(b, "https://acct.blob.core.windows.net", "acct", []string{"uploads"}, false)
	ref := blobref.Ref{Container: "uploads", Name: "users/alice/0f8fad5b-d9cb-469f-a165-70867728950e.jpg"}
	exp := time.Now().Add(10 * time.Minute)
	for _, s := range []struct {
		name   string
		signer interface {
			Sign(blobref.Ref, blobstore.Access, time.Time) (string, error)
		}
	}{{"own", p.own}, {"sdk", p.sdk}} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.signer.Sign(ref, blobstore.Upload, exp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
