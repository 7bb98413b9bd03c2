package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	azstore "github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/staging"
)

// refusingTransport answers 403 to the delete of one blob, as storage does
// to a blob under a legal hold, and sends every other request on.
type refusingTransport struct{ name string }

func (f refusingTransport) Do(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/"+f.name) {
		return &http.Response{
			StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: r, Body: io.NopCloser(strings.NewReader("")),
			Header: http.Header{"X-Ms-Error-Code": {"AuthorizationFailure"}},
		}, nil
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestSweepPastSnapshotsAndLeases: an uploader whose staging blobs sort
// first snapshots one and takes an infinite lease on another, with the
// write SAS /sas gave them, as an attacker would. The sweep removes those
// with everything else, and a blob storage refuses to delete is logged,
// counted and passed over.
func TestSweepPastSnapshotsAndLeases(t *testing.T) {
	s := newStack(t, nil)
	ctx := context.Background()
	leased, snapped := "users/alice/leased.txt", "users/alice/snapped.txt"
	for _, name := range []string{leased, snapped} {
		s.uploadAsBrowser(t, aliceToken, "uploads", name, "text/plain", []byte("alice"))
	}
	for _, name := range []string{leased, snapped} {
		if code := browser(t, "PUT", s.mustSAS(t, aliceToken, "PUT", "uploads", name)+"&comp=snapshot", nil, nil); code != 201 {
			t.Fatalf("snapshot of %s with the upload SAS = %d", name, code)
		}
	}
	lease := map[string]string{"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1", "x-ms-version": "2021-12-02"}
	if code := browser(t, "PUT", s.mustSAS(t, aliceToken, "PUT", "uploads", leased)+"&comp=lease", lease, nil); code != 201 {
		t.Fatalf("infinite lease with the upload SAS = %d", code)
	}
	s.uploadAsBrowser(t, bobToken, "uploads", "users/bob/plain.txt", "text/plain", []byte("bob"))
	s.uploadAsBrowser(t, bobToken, "uploads", "users/bob/stuck.txt", "text/plain", []byte("bob"))
	stuck := staged("bob", "uploads", "users/bob/stuck.txt")
	if first := staged("alice", "uploads", leased); first > staged("bob", "uploads", "users/bob/plain.txt") {
		t.Fatalf("alice's staging blobs do not sort first: %s", first)
	}

	cred, err := azblob.NewSharedKeyCredential(s.az.Account(), s.az.Key())
	if err != nil {
		t.Fatal(err)
	}
	client, err := service.NewClientWithSharedKeyCredential(s.az.Endpoint()+"/", cred, &service.ClientOptions{ClientOptions: policy.ClientOptions{
		Transport: refusingTransport{name: stuck},
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	sw := &staging.Sweeper{Container: "incoming", Store: azstore.Store{Client: client}, Log: zap.New(core), Metrics: staging.NewMetrics(reg)}
	rep, err := sw.Sweep(ctx, 0)
	if !errors.Is(err, staging.ErrIncomplete) || rep.Removed != 3 || rep.Failed != 1 {
		t.Fatalf("sweep: %+v, %v; want 3 removed, 1 failed, ErrIncomplete", rep, err)
	}
	for _, name := range []string{leased, snapped} {
		if s.exists(t, "incoming", staged("alice", "uploads", name)) {
			t.Errorf("%s survived the sweep", name)
		}
	}
	if s.exists(t, "incoming", staged("bob", "uploads", "users/bob/plain.txt")) {
		t.Error("the sweep stopped before bob's upload")
	}
	pager := s.az.Client().NewContainerClient("incoming").NewListBlobsFlatPager(&azblob.ListBlobsFlatOptions{Include: azblob.ListBlobsInclude{Snapshots: true}})
	var left []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			left = append(left, *b.Name)
		}
	}
	if len(left) != 2 || left[0] != stuck || left[1] != staging.LockBlob {
		t.Errorf("left in staging: %q, want only %s and the lock", left, stuck)
	}
	if n := logs.FilterMessage("could not remove an unverified upload; going on").FilterField(zap.String("staging_blob", stuck)).Len(); n != 1 {
		t.Errorf("%d log lines for the blob that could not be removed, want 1: %v", n, logs.All())
	}
	if got := gathered(t, reg, "blobvalet_staging_sweep_failures_total"); got != 1 {
		t.Errorf("blobvalet_staging_sweep_failures_total = %v, want 1", got)
	}
	if got := gathered(t, reg, "blobvalet_staging_swept_total"); got != 3 {
		t.Errorf("blobvalet_staging_swept_total = %v, want 3", got)
	}
}

// gathered reads an unlabelled counter from reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
