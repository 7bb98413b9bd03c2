package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStaticBinary runs scripts/check-static.sh: the binary built as the
// container image builds it is static and runs "version" and "check" in an
// empty root. The empty root is a user namespace made by unshare; where
// user namespaces are not allowed, the script falls back to chroot as root,
// and where neither is possible (exit 3) the test skips, except in CI.
func TestStaticBinary(t *testing.T) {
	for _, tool := range []string{"unshare", "readelf"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (apt-get install util-linux binutils)", tool)
			}
			t.Skipf("%s not found: apt-get install util-linux binutils to run this test", tool)
		}
	}
	const version = "v0.0.0-static-test"
	cmd := exec.Command("scripts/check-static.sh", version)
	cmd.Dir = "../.." // the module's root
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 3 && os.Getenv("CI") != "true" {
		t.Skip("no empty root can be made here: user namespaces are not allowed and this is not root")
	}
	if err != nil {
		t.Fatalf("scripts/check-static.sh: %v", err)
	}
	for _, want := range []string{"static: no program interpreter", "/blobvalet version: blobvalet " + version + " ", "check: config ok", "exit 1, problems listed", "check-static: ok"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the script did not say %q", want)
		}
	}
}
