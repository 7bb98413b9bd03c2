package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/azurite/azuritetest"
)

// checkCmd runs "blobvalet check" with args and returns the exit code and
// what it printed.
func checkCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"check"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// checkConfig is the configuration the check tests run on az.
func checkConfig(az *azurite.Server) Config {
	return Config{
		Listen:      "0.0.0.0:8080",
		Storage:     Storage{Account: az.Account(), Endpoint: az.Endpoint(), KeyEnv: "CHECK_STORAGE_KEY"},
		CORSOrigins: []string{"https://app.example.com"},
		Auth:        Auth{Tokens: []Token{{User: "alice", TokenEnv: "CHECK_ALICE_TOKEN"}}},
		Staging:     Staging{Container: "incoming"},
		Rules:       []Rule{{Name: "own-folder", Users: []string{"*"}, Container: "uploads", Blobs: "users/{user}/**", Methods: []string{"PUT", "DELETE"}}},
	}
}

func TestCheckStorage(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "incoming")
	t.Setenv("CHECK_ALICE_TOKEN", "alice-token-0123456789")
	c := checkConfig(az)
	path := writeConfig(t, c)

	t.Run("good", func(t *testing.T) {
		t.Setenv("CHECK_STORAGE_KEY", az.Key())
		code, stdout, stderr := checkCmd(t, "--config", path, "--storage")
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		if !strings.Contains(stdout, "storage ok: account "+az.Account()) || strings.Contains(stdout, "not checked") {
			t.Errorf("output:\n%s", stdout)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		t.Setenv("CHECK_STORAGE_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64)))
		if code, _, _ := checkCmd(t, "--config", path); code != 0 {
			t.Fatalf("without --storage the key is not tried: exit %d, want 0", code)
		}
		code, stdout, stderr := checkCmd(t, "--config", path, "--storage")
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, stdout)
		}
		if !strings.Contains(stderr, `refused the key "key"`) {
			t.Errorf("stderr:\n%s", stderr)
		}
	})
	t.Run("missing container", func(t *testing.T) {
		t.Setenv("CHECK_STORAGE_KEY", az.Key())
		c := checkConfig(az)
		c.Rules = append(c.Rules, Rule{Name: "drop", Users: []string{"*"}, Container: "nowhere", Blobs: "**", Methods: []string{"PUT"}})
		other := writeConfig(t, c)
		code, _, stderr := checkCmd(t, "--config", other, "--storage")
		if code != 1 || !strings.Contains(stderr, `container "nowhere", named by a rule, does not exist`) {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
}
