package blockdev

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireTools skips the test, saying why, when a real tool is missing.
// `make deps` installs them all, so in CI these tests run.
func requireTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("skipping: %s is not installed (make deps installs it)", n)
		}
	}
}

// sparseImage creates an image file of size bytes that takes no space until
// written.
func sparseImage(t testing.TB, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// tool runs a real tool with an empty stdin and returns its stdout; a
// failure fails the test.
func tool(t testing.TB, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(argv, " "), err, out, stderr.String())
	}
	return string(out)
}
