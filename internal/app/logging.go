package app

import (
	"io"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/blobvalet/blobvalet/config"
)

// logFlushInterval bounds how long a line of a buffered logger waits in its
// buffer before it is written.
const logFlushInterval = time.Second

// NewBufferedLogger is NewLogger for the service: lines are written in
// batches (every logFlushInterval, or when 256 KiB are waiting), which
// spares a write per request on the hot path. stop writes what is
// buffered; call it on every orderly stop, so that no line is lost.
// Sync on the logger writes the buffer too.
func NewBufferedLogger(c config.Log, w io.Writer) (log *zap.Logger, stop func(), err error) {
	ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(w), FlushInterval: logFlushInterval}
	log, err = newLogger(c, w, ws)
	if err != nil {
		return nil, nil, err
	}
	return log, func() { _ = ws.Stop() }, nil // a console that went away cannot be helped
}

// NewLogger returns the logger that the log section configures, writing
// to w.
func NewLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	return newLogger(c, w, zapcore.AddSync(w))
}

// newLogger builds the logger of c, writing to ws; w says whether colours
// are wanted (a terminal).
func newLogger(c config.Log, w io.Writer, ws zapcore.WriteSyncer) (*zap.Logger, error) {
	level := zapcore.InfoLevel
	if c.Level != "" {
		if err := level.Set(c.Level); err != nil {
			return nil, err
		}
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	if c.Format == "console" {
		ec.EncodeLevel = levelEncoder(w)
		enc = zapcore.NewConsoleEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, ws, level)), nil
}
