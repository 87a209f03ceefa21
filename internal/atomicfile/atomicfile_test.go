package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteNewFileCreatesParents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "f.conf")
	if err := Write(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("%v %v", fi, err)
	}
	if data, _ := os.ReadFile(path); string(data) != "x\n" {
		t.Errorf("content %q", data)
	}
}

func TestWriteKeepsModeAndLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestWriteRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("got %v", err)
	}
}

func TestWriteFailsInReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions: the failure path cannot be provoked this way")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if err := Write(filepath.Join(dir, "f"), []byte("x"), 0o644); err == nil {
		t.Error("want an error")
	}
}

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("v1"), 0o640); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 11, 25, 18, 30, 5, 0, time.Local)
	b, err := Backup(path, when)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b, ".2026-11-25@18:30:05~") {
		t.Errorf("name %q", b)
	}
	fi, _ := os.Stat(b)
	data, _ := os.ReadFile(b)
	if string(data) != "v1" || fi.Mode().Perm() != 0o640 {
		t.Errorf("backup %q mode %v", data, fi.Mode())
	}
	if _, err := Backup(filepath.Join(dir, "missing"), when); err == nil {
		t.Error("backup of a missing file must fail")
	}
}
