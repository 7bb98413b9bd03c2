package cli

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/internal/app"
)

func TestReadBuild(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		ok      bool
		want    app.Build
	}{
		{"release build", "v1.4.0",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", "0123abc", "vcs.modified", "false")},
			true, app.Build{Version: "v1.4.0", Commit: "0123abc", GoVersion: "go1.26.8"}},
		{"dirty work tree", "",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", "0123abc", "vcs.modified", "true")},
			true, app.Build{Version: "(devel)", Commit: "0123abc+dirty", GoVersion: "go1.26.8"}},
		{"go install of a tagged module", "",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.3.0"}},
			true, app.Build{Version: "v1.3.0", Commit: "unknown", GoVersion: "go1.26.8"}},
		{"no build information", "",
			nil, false, app.Build{Version: "unknown", Commit: "unknown", GoVersion: runtime.Version()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readBuild(tc.stamped, tc.bi, tc.ok); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), Process{}, []string{arg}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", arg, code, stderr.String())
		}
		out := stdout.String()
		if !strings.HasPrefix(out, "blobvalet ") || !strings.Contains(out, runtime.Version()) || !strings.HasSuffix(out, ")\n") {
			t.Errorf("%s printed %q", arg, out)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), Process{}, []string{"version", "extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("version with an argument: exit %d, want 2", code)
	}
}
