package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestStaticBinary runs scripts/check-static.sh: the binary built as the
// container image builds it is static and runs "version" and "check" in an
// empty root. The empty root is a user namespace made by unshare; where
// user namespaces are not allowed, the script falls back to chroot as root,
// and where neither is possible (exit 3) the test skips, except in CI.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds blobvalet: skipped under -short")
	}
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

// TestStaticDockerfile keeps the Dockerfile building with
// scripts/build-static.sh, the command the static check proves, and holds
// the image to its promises.
func TestStaticDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var instr []string // instructions, comments and continuations dropped
	for _, line := range strings.Split(string(data), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			instr = append(instr, l)
		}
	}
	text := strings.Join(instr, "\n")
	if !regexp.MustCompile(`(?m)^RUN scripts/build-static\.sh /out/blobvalet "\$VERSION"$`).MatchString(text) {
		t.Error("the Dockerfile does not build with scripts/build-static.sh")
	}
	if strings.Contains(text, "go build") {
		t.Error("the Dockerfile runs go build itself: build with scripts/build-static.sh only")
	}
	stages := regexp.MustCompile(`(?m)^FROM .*$`).FindAllString(text, -1)
	if len(stages) < 2 {
		t.Fatalf("stages %q: want a build stage and a final stage", stages)
	}
	if stages[len(stages)-1] != "FROM scratch" && !strings.HasPrefix(stages[len(stages)-1], "FROM gcr.io/distroless/static") {
		t.Errorf("the final stage is %q, want scratch or distroless static", stages)
	}
	final := text[strings.LastIndex(text, "\n"+stages[len(stages)-1]):]
	for _, want := range []string{
		"COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
		"USER 65532:65532",
		`ENTRYPOINT ["/blobvalet"]`,
		`CMD ["serve", "--config", "/etc/blobvalet/blobvalet.yaml"]`,
	} {
		if !strings.Contains(final, want) {
			t.Errorf("the final stage lacks %s", want)
		}
	}
	if regexp.MustCompile(`(?mi)^(HEALTHCHECK|RUN)\b`).MatchString(final) {
		t.Error("the final stage has a HEALTHCHECK or RUN: it has no shell, and probes belong to the orchestrator")
	}
	script, err := os.ReadFile("scripts/build-static.sh")
	if err != nil {
		t.Fatal(err)
	}
	const build = `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$out" .`
	if !strings.Contains(string(script), "\n"+build+"\n") {
		t.Errorf("scripts/build-static.sh no longer runs %s", build)
	}
}
