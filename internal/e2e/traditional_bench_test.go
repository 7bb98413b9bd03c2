//go:build unix

package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Benchmarks of the traditional endpoint on Azurite: what one chunk in
// flight costs in memory, and how fast bytes go through blobvalet into
// Put Block compared with the same client's Put Blocks sent straight to
// Azurite with a SAS (Fine Uploader Azure's path). Run them one at a time,
// on an otherwise idle machine:
//
//	go test ./internal/e2e -run '^$' -bench Traditional -benchtime 3x
//
// Both sides run in this process (the HTTP client, and blobvalet on
// loopback); Azurite is a separate process on the same machine.

// benchLine is the text every benchmark file is made of.
const benchLine = "blobvalet traditional benchmark, streamed into staging\n"

// textReader yields n bytes of benchLine without allocating. When half is
// positive, it reports on halfway once it has produced half bytes and then
// waits for release before producing the rest.
type textReader struct {
	n, off, half int64
	halfway      func()
	release      <-chan struct{}
}

func (r *textReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if r.half > 0 && r.off == r.half {
		r.halfway()
		<-r.release
		r.half = 0
	}
	end := r.n
	if r.half > 0 {
		end = r.half
	}
	p = p[:min(int64(len(p)), end-r.off)]
	n := 0
	for n < len(p) {
		at := (r.off + int64(n)) % int64(len(benchLine))
		n += copy(p[n:], benchText[at:])
	}
	r.off += int64(n)
	return n, nil
}

// benchText is benchLine repeated to 64 KiB and a line more, so that a
// read of up to 64 KiB is one copy from any offset within a line.
var benchText = strings.Repeat(benchLine, 64<<10/len(benchLine)+2)

// chunkRequest is part i of a file of total bytes in parts of size, as Fine
// Uploader's multipart POST, with its file part streamed from body.
func (s *stack) chunkRequest(b testing.TB, uuid string, i, parts int, size, total int64, body io.Reader) *http.Request {
	b.Helper()
	var head strings.Builder
	w := multipart.NewWriter(&head)
	for _, kv := range [][2]string{
		{"qqpartindex", strconv.Itoa(i)}, {"qqpartbyteoffset", strconv.FormatInt(int64(i)*size, 10)},
		{"qqchunksize", strconv.FormatInt(size, 10)}, {"qqtotalparts", strconv.Itoa(parts)},
		{"qqtotalfilesize", strconv.FormatInt(total, 10)}, {"qqfilename", "bench.txt"}, {"qquuid", uuid},
	} {
		if err := w.WriteField(kv[0], kv[1]); err != nil {
			b.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="qqfile"; filename="blob"`)
	h.Set("Content-Type", "application/octet-stream")
	if _, err := w.CreatePart(h); err != nil {
		b.Fatal(err)
	}
	tail := "\r\n--" + w.Boundary() + "--\r\n"
	r, err := http.NewRequest(http.MethodPost, s.url+"/upload", io.MultiReader(strings.NewReader(head.String()), body, strings.NewReader(tail)))
	if err != nil {
		b.Fatal(err)
	}
	r.ContentLength = int64(head.Len()) + size + int64(len(tail))
	r.Header.Set("Content-Type", w.FormDataContentType())
	r.Header.Set("Authorization", "Bearer "+aliceToken)
	return r
}

// benchStack is blobvalet with the upload route taking chunks up to
// maxChunk, perUser at a time, for alice, whose own folder takes text up to
// 10 GiB.
func benchStack(b *testing.B, maxChunk string, perUser int) *stack {
	return tradStack(b, func(c *Config) {
		c.Upload.MaxChunk, c.Upload.PerUser = maxChunk, perUser
		r := &c.Rules[0]
		r.MaxSize = "10GiB"
	}, nil)
}

// do sends r and wants a 2xx.
func do(b testing.TB, client *http.Client, r *http.Request) {
	resp, err := client.Do(r)
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		b.Errorf("%s %s: %d %s", r.Method, r.URL.Path, resp.StatusCode, msg)
	}
}

// liveHeap is the heap's live bytes, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkTraditionalMemory measures the live heap while uploads are in
// flight: each request is held halfway through its body (blobvalet then
// has a Put Block open to Azurite for it), the heap is collected and
// measured, and the requests are let go. KiB/in-flight is the growth per
// request, the in-process HTTP client's buffers included (so an upper
// bound of blobvalet's); heap-growth-MiB is the whole growth. The same
// requests are also held against a bare net/http server that only reads
// them: bare-KiB/in-flight is that growth (client and server
// connection), over-bare-KiB/in-flight what blobvalet adds to it.
func BenchmarkTraditionalMemory(b *testing.B) {
	for _, c := range []struct {
		uploads int
		size    int64
	}{{8, 64 << 20}, {64, 8 << 20}} {
		b.Run(fmt.Sprintf("%dx%dMiB", c.uploads, c.size>>20), func(b *testing.B) {
			s := benchStack(b, fmt.Sprintf("%dMiB", c.size>>20), c.uploads)
			sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			}))
			defer sink.Close()
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: c.uploads, MaxIdleConnsPerHost: c.uploads}}
			defer client.CloseIdleConnections()
			// held sends c.uploads requests, holds them halfway and returns
			// the heap's growth meanwhile.
			held := func(target string) uint64 {
				base := liveHeap()
				var halfway, done sync.WaitGroup
				release := make(chan struct{})
				halfway.Add(c.uploads)
				done.Add(c.uploads)
				for range c.uploads {
					body := &textReader{n: c.size, half: c.size / 2, halfway: sync.OnceFunc(halfway.Done), release: release}
					r := s.chunkRequest(b, newUUID(), 0, 2, c.size, 2*c.size, body)
					r.URL.Host = strings.TrimPrefix(target, "http://")
					go func() {
						defer done.Done()
						do(b, client, r)
					}()
				}
				halfway.Wait()
				// Let the server pass on what it has read before looking.
				time.Sleep(200 * time.Millisecond)
				var growth uint64
				if h := liveHeap(); h > base {
					growth = h - base
				}
				close(release)
				done.Wait()
				return growth
			}
			bare := held(sink.URL)
			var growth uint64
			b.ReportAllocs()
			for b.Loop() {
				growth += held(s.url)
			}
			whole := float64(growth) / float64(b.N)
			b.ReportMetric(whole/float64(c.uploads)/1024, "KiB/in-flight")
			b.ReportMetric(float64(bare)/float64(c.uploads)/1024, "bare-KiB/in-flight")
			b.ReportMetric((whole-float64(bare))/float64(c.uploads)/1024, "over-bare-KiB/in-flight")
			b.ReportMetric(whole/(1<<20), "heap-growth-MiB")
		})
	}
}

// BenchmarkTraditionalThroughput uploads the same files both ways in each
// iteration, one after the other: straight to Azurite as Put Blocks with a
// SAS from /sas, and through blobvalet's /upload as Fine Uploader's
// multipart chunks (which blobvalet streams into Put Block). Four files at
// once, each in 8 MiB parts sent one after another. It reports each side's
// throughput, their ratio (blobvalet over direct), and the CPU time this
// process spent per GiB on each side: direct is the client alone,
// blobvalet is the client and blobvalet, so their difference is what
// blobvalet costs.
func BenchmarkTraditionalThroughput(b *testing.B) {
	const (
		files    = 4
		parts    = 8
		partSize = 8 << 20
		total    = parts * partSize
	)
	s := benchStack(b, "8MiB", files)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: files, MaxIdleConnsPerHost: files}}
	defer client.CloseIdleConnections()

	direct := func() {
		var wg sync.WaitGroup
		for range files {
			name := "users/alice/" + newUUID() + ".txt"
			sasURI := s.mustSAS(b, aliceToken, "PUT", "uploads", name)
			wg.Go(func() {
				for i := range parts {
					id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%032d", i))
					r, err := http.NewRequest(http.MethodPut, sasURI+"&comp=block&blockid="+strings.ReplaceAll(id, "=", "%3D"), &textReader{n: partSize})
					if err != nil {
						b.Error(err)
						return
					}
					r.ContentLength = partSize
					do(b, client, r)
				}
			})
		}
		wg.Wait()
	}
	through := func() {
		var wg sync.WaitGroup
		for range files {
			uuid := newUUID()
			wg.Go(func() {
				for i := range parts {
					do(b, client, s.chunkRequest(b, uuid, i, parts, partSize, total, &textReader{n: partSize}))
				}
			})
		}
		wg.Wait()
	}

	var took, cpu [2]time.Duration
	for b.Loop() {
		for side, run := range []func(){direct, through} {
			c0, t0 := cpuTime(b), time.Now()
			run()
			took[side] += time.Since(t0)
			cpu[side] += cpuTime(b) - c0
		}
	}
	const gib = 1 << 30
	bytes := float64(b.N) * files * total
	rate := func(side int) float64 { return bytes / took[side].Seconds() / 1e6 }
	perGiB := func(side int) float64 { return float64(cpu[side].Milliseconds()) / (bytes / gib) }
	b.ReportMetric(rate(0), "direct-MB/s")
	b.ReportMetric(rate(1), "blobvalet-MB/s")
	b.ReportMetric(rate(1)/rate(0), "ratio")
	b.ReportMetric(perGiB(0), "direct-cpu-ms/GiB")
	b.ReportMetric(perGiB(1), "blobvalet-cpu-ms/GiB")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b testing.TB) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
