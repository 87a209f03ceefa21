package image

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMmdebstrapArgs(t *testing.T) {
	r := NewRecipe(Platforms["debian12"], "http://mirror.example/")
	args := r.MmdebstrapArgs("/b/rootfs", "/b/customize.sh")
	want := []string{"--mode=root", "--variant=minbase", "--quiet"}
	if !reflect.DeepEqual(args[:3], want) {
		t.Errorf("args start %q", args[:3])
	}
	inc := args[3]
	if !strings.HasPrefix(inc, "--include=") || !strings.Contains(inc, "linux-image-amd64") || !strings.Contains(inc, "openssh-server") ||
		!strings.Contains(inc, "python3-apt") {
		t.Errorf("include = %q", inc)
	}
	for _, p := range ClusterPackages {
		if strings.Contains(inc, p) {
			t.Errorf("cluster package %s must not be in the image: %q", p, inc)
		}
	}
	rest := args[4:]
	wantRest := []string{"--customize-hook=/b/customize.sh", "bookworm", "/b/rootfs",
		"deb http://mirror.example/debian bookworm main",
		"deb http://mirror.example/debian bookworm-updates main",
		"deb http://mirror.example/debian-security bookworm-security main"}
	if !reflect.DeepEqual(rest, wantRest) {
		t.Errorf("args = %q, want %q", rest, wantRest)
	}
	trixie := NewRecipe(Platforms["debian13"], DefaultMirror).MmdebstrapArgs("r", "h")
	if trixie[5] != "trixie" || trixie[len(trixie)-1] != "deb http://deb.debian.org/debian-security trixie-security main" {
		t.Errorf("debian13 args = %q", trixie)
	}
	if _, err := LookupPlatform("debian11"); err == nil || !strings.Contains(err.Error(), "debian12, debian13") {
		t.Errorf("unknown platform error = %v", err)
	}
}

func TestRecipeID(t *testing.T) {
	a := NewRecipe(Platforms["debian12"], DefaultMirror)
	if a.ID() != NewRecipe(Platforms["debian12"], DefaultMirror).ID() {
		t.Error("the same recipe has two ids")
	}
	if !strings.HasPrefix(a.ID(), "debian12-") || len(a.ID()) != len("debian12-")+12 {
		t.Errorf("id = %q", a.ID())
	}
	changed := []func(r *Recipe){
		func(r *Recipe) { r.Packages = append(r.Packages, "vim") },
		func(r *Recipe) { r.RepoPackages = r.RepoPackages[1:] },
		func(r *Recipe) { r.Customize += "\n" },
		func(r *Recipe) { r.SizeMiB++ },
		func(r *Recipe) { r.Sources[0] = "deb http://other/debian bookworm main" },
	}
	for i, change := range changed {
		b := NewRecipe(Platforms["debian12"], DefaultMirror)
		change(&b)
		if b.ID() == a.ID() {
			t.Errorf("change %d kept the image id", i)
		}
	}
	if NewRecipe(Platforms["debian13"], DefaultMirror).ID() == a.ID() {
		t.Error("debian13 and debian12 share an id")
	}
}

func TestCustomizeScriptKeepsClusterServicesOut(t *testing.T) {
	// The image must not start corosync or dlm at boot: they are only
	// downloaded for the package source, never installed.
	if !strings.Contains(customizeScript, "--download-only") || strings.Contains(customizeScript, "chroot \"$root\" apt-get install") {
		t.Error("cluster packages must be downloaded, not installed")
	}
	for _, masked := range []string{"apt-daily.timer", "systemd-networkd-wait-online.service", "e2scrub_reap.service"} {
		if !strings.Contains(customizeScript, masked) {
			t.Errorf("customize hook does not mask %s", masked)
		}
	}
	if !strings.Contains(customizeScript, "deb [trusted=yes] http://"+RepoAddress+"/ ./") {
		t.Error("guest apt source is not the lab's")
	}
}

func TestPackagesStanzaAndRelease(t *testing.T) {
	data := []byte("not really a deb")
	sum := sha256.Sum256(data)
	got := PackagesStanza("Package: corosync\nVersion: 3.1.7-1\nArchitecture: amd64\n", "corosync_3.1.7-1_amd64.deb", data)
	want := "Package: corosync\nVersion: 3.1.7-1\nArchitecture: amd64\nFilename: ./corosync_3.1.7-1_amd64.deb\nSize: 16\nSHA256: " +
		hex.EncodeToString(sum[:]) + "\n\n"
	if got != want {
		t.Errorf("stanza = %q\nwant %q", got, want)
	}
	pk := []byte(got)
	psum := sha256.Sum256(pk)
	rel := ReleaseFile(pk, time.Date(2025, 5, 20, 10, 0, 0, 0, time.UTC))
	if !strings.Contains(rel, "Date: Tue, 20 May 2025 10:00:00 UTC\n") ||
		!strings.HasSuffix(rel, fmt.Sprintf("SHA256:\n %s %d Packages\n", hex.EncodeToString(psum[:]), len(pk))) {
		t.Errorf("release = %q", rel)
	}
}

func TestServeRepoConn(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Packages"), []byte("Package: x\n"), 0o644)
	server, client := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- ServeRepoConn(server, dir, 5*time.Second) }()
	r := bufio.NewReader(client)
	// apt keeps the connection open for its next request.
	for _, path := range []string{"/Packages", "/Release"} {
		fmt.Fprintf(client, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, RepoAddress)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch path {
		case "/Packages":
			if resp.StatusCode != 200 || string(body) != "Package: x\n" {
				t.Errorf("GET /Packages = %d %q", resp.StatusCode, body)
			}
		case "/Release":
			if resp.StatusCode != 404 {
				t.Errorf("GET /Release = %d, want 404", resp.StatusCode)
			}
		}
	}
	client.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeRepoConn = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeRepoConn did not return once the guest closed the connection")
	}
}
