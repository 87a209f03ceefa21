// Package atomicfile replaces a file so that readers see either the old or
// the new content, never a mix, and a crash leaves one of the two on disk.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Write replaces path with data: a temporary file in the same directory is
// written, synced and renamed over path, then the directory is synced. An
// existing file's mode and owner are kept; a new file gets newMode, owned by
// the caller. Missing parent directories are created with mode 0755.
func Write(path string, data []byte, newMode os.FileMode) error {
	dir := filepath.Dir(path)
	mode, uid, gid := newMode, -1, -1
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	} else if !os.IsNotExist(err) {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if uid >= 0 {
		if err := tmp.Chown(uid, gid); err != nil {
			return fmt.Errorf("chown %s: %w", tmp.Name(), err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp.Name(), path, err)
	}
	committed = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Backup copies path to a timestamped sibling named as Ansible names its
// backups (PATH.PID.YYYY-MM-DD@HH:MM:SS~), keeping mode and owner, and
// returns the copy's name.
func Backup(path string, now time.Time) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open %s for backup: %w", path, err)
	}
	defer src.Close()
	data, err := io.ReadAll(src)
	if err != nil {
		return "", fmt.Errorf("read %s for backup: %w", path, err)
	}
	dest := fmt.Sprintf("%s.%d.%s~", path, os.Getpid(), now.Format("2006-01-02@15:04:05"))
	if err := Write(dest, data, 0o600); err != nil {
		return "", fmt.Errorf("backup %s: %w", path, err)
	}
	fi, err := src.Stat()
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", path, err)
	}
	if err := os.Chmod(dest, fi.Mode().Perm()); err != nil {
		return "", fmt.Errorf("chmod backup %s: %w", dest, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(dest, int(st.Uid), int(st.Gid)); err != nil {
			return "", fmt.Errorf("chown backup %s: %w", dest, err)
		}
	}
	return dest, nil
}
