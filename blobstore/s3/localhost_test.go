package s3_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/blobvalet/blobvalet/blobstore/s3"
	"github.com/blobvalet/blobvalet/s3emu"
	"github.com/blobvalet/blobvalet/s3emu/s3emutest"
)

// TestVirtualHostedLocalhost: with virtual-hosted addressing at
// http://localhost:PORT (versitygw's VirtualDomain), the client reaches
// bucket B at B.localhost, which the system resolver does not know, and
// the object written that way is the one path style reads.
func TestVirtualHostedLocalhost(t *testing.T) {
	emu := s3emutest.StartOptions(t, s3emu.Options{VirtualDomain: "localhost"}, "incoming")
	if got, want := emu.VirtualEndpoint(), strings.Replace(emu.Endpoint(), "127.0.0.1", "localhost", 1); got != want {
		t.Fatalf("VirtualEndpoint %q, want %q", got, want)
	}
	c, err := s3.NewClient(s3.Config{
		Endpoint: emu.VirtualEndpoint(), Region: s3emu.Region,
		AccessKeyID: emu.AccessKey(), SecretAccessKey: emu.SecretKey(),
		HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var host string
	_, err = c.PutObject(ctx, &s3sdk.PutObjectInput{Bucket: aws.String("incoming"), Key: aws.String("a/b.txt"), Body: strings.NewReader("virtual")},
		func(o *s3sdk.Options) {
			o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
				return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("host", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					if r, ok := in.Request.(*smithyhttp.Request); ok {
						host = r.URL.Host
					}
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
			})
		})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(host, "incoming.localhost:") {
		t.Errorf("request went to %q, want incoming.localhost:PORT", host)
	}
	out, err := emu.Client().GetObject(ctx, &s3sdk.GetObjectInput{Bucket: aws.String("incoming"), Key: aws.String("a/b.txt")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); string(b) != "virtual" {
		t.Fatalf("path style reads %q", b)
	}
}
