package traditional

import (
	"errors"
	"fmt"
	"io"
)

// Errors of a chunk's body: the bytes the browser sent were not the bytes
// it announced. No block is stored for either.
var (
	// ErrShortPart: the part ended before qqchunksize bytes.
	ErrShortPart = errors.New("the chunk ended before its announced size")
	// ErrLongPart: the part went on after qqchunksize bytes.
	ErrLongPart = errors.New("the chunk is longer than its announced size")
	// errRewind: storage's client asked to send the body again after it
	// had begun; a streamed chunk cannot be replayed.
	errRewind = errors.New("a streamed chunk cannot be sent twice")
)

// oneShot is a chunk's body, of known length n, read once from the
// browser's request on its way to storage. It tells its length to the
// storage client by seeking (which is how a Put Block gets its
// Content-Length without the chunk in memory), and refuses to be
// rewound once read: a retry of a half-sent block would send other bytes.
// It holds back the last byte until the part's end is confirmed, so a body
// that is longer than announced fails the storage call before it
// completes, and one that is shorter fails it too: neither becomes a
// block.
type oneShot struct {
	src  io.Reader
	n    int64
	pos  int64 // the position the client set by seeking, before any read
	read int64 // bytes handed out
	// err is the body's fault, once found.
	err error
}

// newOneShot returns the body of a chunk of n bytes (n > 0) read from src.
func newOneShot(src io.Reader, n int64) *oneShot {
	return &oneShot{src: src, n: n}
}

// Read implements io.Reader.
func (o *oneShot) Read(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	if o.read == 0 && o.pos != 0 {
		return 0, fmt.Errorf("read at offset %d: %w", o.pos, errRewind)
	}
	if o.read == o.n {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.read < o.n-1 {
		// Fill p as far as the part allows: the multipart reader yields at
		// most 4 KiB a read, and each Read here is one write (one system
		// call) on the connection to storage.
		want := int(min(int64(len(p)), o.n-1-o.read))
		m, err := 0, error(nil)
		for m < want && err == nil {
			var k int
			k, err = o.src.Read(p[m:want])
			m += k
		}
		o.read += int64(m)
		switch {
		case errors.Is(err, io.EOF) && o.read < o.n:
			o.err = fmt.Errorf("%w: %d of %d bytes", ErrShortPart, o.read, o.n)
			return m, o.err
		case err != nil && !errors.Is(err, io.EOF):
			o.err = err
			return m, err
		}
		return m, nil
	}
	// The last byte: hand it out only once the part is seen to end.
	var b [2]byte
	m, err := io.ReadFull(o.src, b[:1])
	if m == 0 {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: %d of %d bytes", ErrShortPart, o.read, o.n)
		}
		o.err = err
		return 0, err
	}
	extra, err := o.src.Read(b[1:])
	for extra == 0 && err == nil {
		extra, err = o.src.Read(b[1:])
	}
	switch {
	case extra > 0:
		o.err = fmt.Errorf("%w (%d bytes)", ErrLongPart, o.n)
		return 0, o.err
	case !errors.Is(err, io.EOF):
		o.err = err
		return 0, err
	}
	p[0] = b[0]
	o.read = o.n
	return 1, nil
}

// Seek implements io.Seeker for what a storage client asks before it
// sends: where the body starts and where it ends. Once reading began it
// only tells the position; going back fails.
func (o *oneShot) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		if o.read > 0 {
			abs = o.read + offset
		} else {
			abs = o.pos + offset
		}
	case io.SeekEnd:
		abs = o.n + offset
	default:
		return 0, errors.New("oneShot: bad whence")
	}
	if o.read > 0 {
		if abs != o.read {
			return 0, errRewind
		}
		return abs, nil
	}
	if abs < 0 || abs > o.n {
		return 0, fmt.Errorf("oneShot: seek to %d of %d", abs, o.n)
	}
	o.pos = abs
	return abs, nil
}

// Close implements io.Closer; the request's body is closed by the server.
func (o *oneShot) Close() error { return nil }

// Err returns the body's fault, if reading it found one.
func (o *oneShot) Err() error { return o.err }
