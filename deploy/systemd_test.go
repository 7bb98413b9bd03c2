package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/config"
)

const unitPath = "systemd/blobvalet.service"

// readUnit returns the unit's settings: section.Key → values, in order.
func readUnit(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not a setting: %q", unitPath, line)
			}
			settings[section+"."+k] = append(settings[section+"."+k], v)
		}
	}
	return settings
}

func TestSystemdUnitSettings(t *testing.T) {
	s := readUnit(t)
	for key, want := range map[string]string{
		"ExecStart":               "/usr/local/bin/blobvalet serve --config /etc/blobvalet/blobvalet.yaml",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"Restart":                 "on-failure",
		"DynamicUser":             "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"UMask":                   "0077",
	} {
		got := s["Service."+key]
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	if f := s["Service.SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%q, want @system-service first", f)
	}
	creds := s["Service.LoadCredential"]
	if len(creds) == 0 {
		t.Error("no LoadCredential: secrets should reach the service as credentials")
	}
	for _, c := range creds {
		if name, src, ok := strings.Cut(c, ":"); !ok || name == "" || !strings.HasPrefix(src, "/etc/blobvalet/credentials/") {
			t.Errorf("LoadCredential=%s: want NAME:/etc/blobvalet/credentials/FILE", c)
		}
	}
	stop := s["Service.TimeoutStopSec"]
	d, err := time.ParseDuration(strings.Join(stop, ""))
	// The unit's configuration is the operator's: it has the defaults.
	if longest := shutdownStop(config.Shutdown{Drain: config.Duration(config.DefaultShutdownDrain), Timeout: config.Duration(config.DefaultShutdownTimeout)}); err != nil || d <= longest {
		t.Errorf("TimeoutStopSec=%q must exceed blobvalet's default shutdown drain and timeout (%v)", stop, longest)
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify, which must say
// nothing: it reports unknown keys and bad values but still exits 0. The
// unit is verified as written, except that ExecStart names an executable
// that exists here.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is required in CI: apt-get install systemd")
		}
		t.Skip("systemd-analyze not found: apt-get install systemd to verify the unit")
	}
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "blobvalet.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/blobvalet", exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The sandbox, as systemd rates it: 0 (tight) to 10 (none).
	out, err = exec.Command(analyze, "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for blobvalet\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security gave no exposure level:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0:\n%s", level, out)
	}
}
