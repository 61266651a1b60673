package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/status"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// newLogger returns a slog logger writing text or JSON lines to w.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	l, _, err := newLevelLogger(w, level, format)
	return l, err
}

// newLevelLogger is newLogger with the level it logs at, which a reload
// may change.
func newLevelLogger(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar, error) {
	lv, err := parseLevel(level)
	if err != nil {
		return nil, nil, err
	}
	v := new(slog.LevelVar)
	v.Set(lv)
	opts := &slog.HandlerOptions{Level: v}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), v, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), v, nil
	}
	return nil, nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// parseLevel parses -log-level.
func parseLevel(level string) (slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return 0, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	return lv, nil
}

// logCall writes the one line per call: never the request, its metadata or
// its bytes, only their count.
func logCall(l *slog.Logger, ev gateway.CallEvent) {
	attrs := []slog.Attr{
		slog.String("endpoint", ev.Endpoint),
		slog.String("protocol", ev.Protocol),
		slog.String("code", codes.Code(ev.Code).String()),
		slog.Duration("duration", ev.Duration),
		slog.Int64("bytes_in", ev.BytesIn),
		slog.Int64("bytes_out", ev.BytesOut),
	}
	if ev.Err != nil && ev.Code != 0 {
		attrs = append(attrs, slog.String("err", errMessage(ev.Err)))
	}
	l.LogAttrs(context.Background(), slog.LevelInfo, "call", attrs...)
}

// errMessage is an error's message without the "native: Code: " prefix.
func errMessage(err error) string {
	var ne *native.Error
	if errors.As(err, &ne) {
		return ne.Message()
	}
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// grpcLogger sends grpc-go's own log to slog: errors as warnings (they are
// about connections, not calls), warnings and info at debug.
type grpcLogger struct{ l *slog.Logger }

func setGRPCLogger(l *slog.Logger) { grpclog.SetLoggerV2(grpcLogger{l.With("component", "grpc")}) }

func (g grpcLogger) log(lv slog.Level, args ...any) {
	if g.l.Enabled(context.Background(), lv) {
		g.l.Log(context.Background(), lv, strings.TrimSpace(fmt.Sprint(args...)))
	}
}
func (g grpcLogger) logf(lv slog.Level, format string, args ...any) {
	if g.l.Enabled(context.Background(), lv) {
		g.l.Log(context.Background(), lv, strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}
func (g grpcLogger) Info(args ...any)                    { g.log(slog.LevelDebug-4, args...) }
func (g grpcLogger) Infoln(args ...any)                  { g.log(slog.LevelDebug-4, args...) }
func (g grpcLogger) Infof(format string, args ...any)    { g.logf(slog.LevelDebug-4, format, args...) }
func (g grpcLogger) Warning(args ...any)                 { g.log(slog.LevelDebug, args...) }
func (g grpcLogger) Warningln(args ...any)               { g.log(slog.LevelDebug, args...) }
func (g grpcLogger) Warningf(format string, args ...any) { g.logf(slog.LevelDebug, format, args...) }
func (g grpcLogger) Error(args ...any)                   { g.log(slog.LevelWarn, args...) }
func (g grpcLogger) Errorln(args ...any)                 { g.log(slog.LevelWarn, args...) }
func (g grpcLogger) Errorf(format string, args ...any)   { g.logf(slog.LevelWarn, format, args...) }
func (g grpcLogger) Fatal(args ...any)                   { g.log(slog.LevelError, args...); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any)                 { g.Fatal(args...) }
func (g grpcLogger) Fatalf(format string, args ...any)   { g.Fatal(fmt.Sprintf(format, args...)) }
func (g grpcLogger) V(l int) bool                        { return l <= 0 }
