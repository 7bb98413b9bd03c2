//go:build unix

package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// GoTool is a pinned Go command that GoInstall builds from the Go module
// proxy: versitygw, goaws.
type GoTool struct {
	// Name is the executable's name in the cache, and how progress and
	// errors call it.
	Name string
	// Command is the command's package path, Version its pinned version.
	Command, Version string
	// Built is the name "go install" gives the executable, when it is not
	// Name (a command in a directory named cmd is built as cmd).
	Built string
	// Takes, if set, says how long a build takes, for progress: "a few
	// minutes".
	Takes string
	// ErrNoGo is returned when there is no go command to build with.
	ErrNoGo error
}

// GoInstall makes sure t is built under base and returns the path of its
// executable. The first call builds it with "go install" from the Go
// module proxy into a temporary directory under base, renamed into place
// when complete; concurrent callers, also in other processes, wait for
// that one build. progress, if not nil, is told what is built where, then
// how long it took and how large it is.
func GoInstall(ctx context.Context, base string, t GoTool, progress io.Writer) (bin string, err error) {
	dir := filepath.Join(base, t.Name+"@"+t.Version)
	bin = filepath.Join(dir, t.Name)
	if complete(dir) {
		return bin, nil
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", t.ErrNoGo
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("cache dir: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(base, "."+t.Name+"@"+t.Version+".lock"), t.Name, progress)
	if err != nil {
		return "", fmt.Errorf("wait for another build of %s: %w", t.Name, err)
	}
	defer unlock()
	if complete(dir) { // built by another process while this one waited
		return bin, nil
	}
	if progress != nil {
		start := time.Now()
		once := "once"
		if t.Takes != "" {
			once += "; " + t.Takes
		}
		fmt.Fprintf(progress, "building %s %s from the Go module proxy into %s (%s) … ", t.Name, t.Version, HomeRelative(base), once)
		defer func() {
			if err != nil {
				fmt.Fprintln(progress, "failed")
				return
			}
			fmt.Fprintf(progress, "done in %s (%s)\n", time.Since(start).Round(time.Second), FormatMiB(fileSize(bin)))
		}()
	}
	tmp, err := os.MkdirTemp(base, ".install-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, goCmd, "install", t.Command+"@"+t.Version)
	// Outside any module or workspace, so that nothing of blobvalet's
	// go.mod applies.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", t.Command, t.Version, err, bytes.TrimSpace(out))
	}
	if t.Built != "" && t.Built != t.Name {
		if err := os.Rename(filepath.Join(tmp, t.Built), filepath.Join(tmp, t.Name)); err != nil {
			return "", fmt.Errorf("install %s: %w", t.Name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("install %s: %w", t.Name, err)
	}
	return bin, nil
}

func complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ".complete"))
	return err == nil
}

// lockFile takes an exclusive lock on path, waiting for another holder
// (telling progress, once) until ctx ends.
func lockFile(ctx context.Context, path, name string, progress io.Writer) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		if progress != nil && !told {
			fmt.Fprintf(progress, "waiting for another process building %s …\n", name)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// fileSize is the size of a file in bytes, 0 if it cannot be read: it is
// only reported.
func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}
