package config

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// Upload configures Fine Uploader's traditional endpoint: POST /upload,
// POST /upload/done and DELETE /upload/{uuid}, for pages that send the
// file to blobvalet instead of to storage. The bytes pass through
// blobvalet on their way to the staging container; they are verified and
// promoted as every other upload.
type Upload struct {
	// Enabled turns the routes on. Default off.
	Enabled bool `yaml:"enabled"`
	// Name is the template of each upload's final name: {user} (the
	// caller), {uuid} (Fine Uploader's file id, required, after {user})
	// and {ext} (the file name's extension, lower-cased, or nothing).
	// Default users/{user}/{uuid}{ext}. The rules decide on the name as
	// they do for /sas.
	Name string `yaml:"name"`
	// Container is the final container of every upload; a rule must name
	// it. Required when enabled.
	Container string `yaml:"container"`
	// MaxChunk is the largest request body: one chunk, or a file sent
	// whole. Pages set chunking.partSize below it. Default 16MiB, at most
	// 4000MiB (Azure's largest block).
	MaxChunk ByteSize `yaml:"max_chunk"`
	// MaxInFlight is how many upload requests one blobvalet takes at once;
	// one more is answered 503 with Retry-After. Each holds about 100 KiB
	// of buffers, whatever the chunk size. Default 256.
	MaxInFlight int `yaml:"max_in_flight"`
	// PerUser is how many upload requests one user may have in flight on
	// one blobvalet; one more is answered 429 with Retry-After. Default 8.
	PerUser int `yaml:"per_user"`
	// IdleTimeout is the longest a request's body may pause: the read
	// deadline moves forward by it each time the body is read (time
	// storage takes to accept a chunk does not count). Default 30s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MinRate is the slowest average a chunk may arrive at, per second: a
	// request gets at most max_chunk / min_rate, plus idle_timeout, to
	// send its body. Default 32KiB (a 16 MiB chunk may take 8.5 minutes).
	MinRate ByteSize `yaml:"min_rate"`
}

// Upload defaults and limits.
const (
	DefaultUploadName        = "users/{user}/{uuid}{ext}"
	DefaultUploadMaxChunk    = ByteSize(16 << 20)
	MaxUploadMaxChunk        = ByteSize(4000 << 20)
	DefaultUploadMaxInFlight = 256
	MaxUploadMaxInFlight     = 100_000
	DefaultUploadPerUser     = 8
	DefaultUploadIdleTimeout = 30 * time.Second
	DefaultUploadMinRate     = ByteSize(32 << 10)
)

var uploadPlaceholder = regexp.MustCompile(`\{[^{}]*\}`)

func (u *Upload) complete(p *problems, containers []string) {
	if u.Name == "" {
		u.Name = DefaultUploadName
	}
	if u.MaxChunk == 0 {
		u.MaxChunk = DefaultUploadMaxChunk
	}
	if u.MaxInFlight == 0 {
		u.MaxInFlight = DefaultUploadMaxInFlight
	}
	if u.PerUser == 0 {
		u.PerUser = DefaultUploadPerUser
	}
	if u.IdleTimeout == 0 {
		u.IdleTimeout = Duration(DefaultUploadIdleTimeout)
	}
	if u.MinRate == 0 {
		u.MinRate = DefaultUploadMinRate
	}
	if !u.Enabled {
		return
	}
	if msg := checkUploadName(u.Name); msg != "" {
		p.add("upload.name", "%s, got %q", msg, u.Name)
	}
	switch {
	case u.Container == "":
		p.add("upload.container", "required with upload.enabled: the container uploads are promoted to, one a rule names")
	case !slices.Contains(containers, u.Container):
		p.add("upload.container", "%q is named by no rule: nothing could be uploaded to it", u.Container)
	}
	if u.MaxChunk > MaxUploadMaxChunk {
		p.add("upload.max_chunk", "want at most %v (Azure's largest block), got %v", MaxUploadMaxChunk, u.MaxChunk)
	}
	if u.MaxInFlight < 1 || u.MaxInFlight > MaxUploadMaxInFlight {
		p.add("upload.max_in_flight", "want between 1 and %d, got %d", MaxUploadMaxInFlight, u.MaxInFlight)
	}
	if u.PerUser < 1 || u.PerUser > u.MaxInFlight {
		p.add("upload.per_user", "want between 1 and upload.max_in_flight (%d), got %d", u.MaxInFlight, u.PerUser)
	}
	if t := time.Duration(u.IdleTimeout); t < time.Second || t > 10*time.Minute {
		p.add("upload.idle_timeout", "want between 1s and 10m, got %v", t)
	}
}

// checkUploadName says what is wrong with a name template, or "".
func checkUploadName(s string) string {
	seen := map[string]int{}
	for _, m := range uploadPlaceholder.FindAllString(s, -1) {
		if m != "{user}" && m != "{uuid}" && m != "{ext}" {
			return "unknown placeholder " + m + ": want {user}, {uuid} and {ext}"
		}
		seen[m]++
	}
	switch i := strings.Index(s, "{uuid}"); {
	case strings.ContainsAny(uploadPlaceholder.ReplaceAllString(s, ""), "{}"):
		return "unbalanced { or }"
	case seen["{uuid}"] != 1 || seen["{user}"] > 1 || seen["{ext}"] > 1:
		return "want {uuid} exactly once, {user} and {ext} at most once"
	case strings.Contains(s[i:], "{user}"):
		return "{user} must come before {uuid}, so that a delete finds the file by its name's beginning"
	case strings.HasPrefix(s, "/") || strings.Contains(s, "//"):
		return "want a blob name: no leading / and no empty segment"
	}
	return ""
}

// ChunkDeadline is the longest a request of max_chunk bytes may take to
// arrive at min_rate, with one idle_timeout to spare.
func (u Upload) ChunkDeadline() time.Duration {
	return time.Duration(float64(u.MaxChunk)/float64(u.MinRate)*float64(time.Second)) + time.Duration(u.IdleTimeout)
}
