package main

import (
	"io"

	"github.com/blobvalet/blobvalet/config"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func newLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
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
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), level)), nil
}
