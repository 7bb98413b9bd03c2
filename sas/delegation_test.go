package sas

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// keySourceFunc is a KeySource made of a function.
type keySourceFunc func(service.KeyInfo) (*service.UserDelegationCredential, error)

func (f keySourceFunc) GetUserDelegationCredential(_ context.Context, info service.KeyInfo, _ *service.GetUserDelegationCredentialOptions) (*service.UserDelegationCredential, error) {
	return f(info)
}

func TestDelegationSignerNotReadyWithoutKey(t *testing.T) {
	r, _ := blobref.NewResolver("https://acct.blob.core.windows.net", []string{"uploads"})
	d := NewDelegationSigner(r, keySourceFunc(func(service.KeyInfo) (*service.UserDelegationCredential, error) {
		return nil, errors.New("AuthorizationPermissionMismatch")
	}), false, nil, time.Hour, 10*time.Minute)
	if err := d.Ready(); err == nil || !strings.Contains(err.Error(), "no user delegation key yet") {
		t.Errorf("Ready before any key = %v", err)
	}
	if err := d.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded without a key")
	}
	if err := d.Ready(); err == nil || !strings.Contains(err.Error(), "AuthorizationPermissionMismatch") {
		t.Errorf("Ready after a failed fetch = %v, want the reason", err)
	}
	if _, err := d.Sign(blobref.Ref{Container: "uploads", Name: "x"}, blobstore.Upload, time.Now().Add(time.Minute)); err == nil {
		t.Error("signed without a key")
	}
}
