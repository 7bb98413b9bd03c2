package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

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
