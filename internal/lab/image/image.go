// Package image is the lab's guest image: a Debian root file system built
// with mmdebstrap from a recipe (packages, customize.sh), its kernel and
// initrd booted directly, an SSH key, and the flat apt repository of the
// cluster packages the lab serves to its guests; images are cached under
// the hash of their recipe.
package image

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
)

//go:embed customize.sh
var customizeScript string

// imageRevision changes whenever the way an image is assembled from its
// recipe changes, so that cached images are rebuilt.
const imageRevision = 1

// Recipe is everything a guest image is made from. Its hash names the cached
// image: a recipe change means a rebuild, anything else reuses the cache.
type Recipe struct {
	Platform     string   `json:"platform"`
	Suite        string   `json:"suite"`
	Sources      []string `json:"sources"`
	Packages     []string `json:"packages"`
	RepoPackages []string `json:"repo_packages"`
	SizeMiB      int      `json:"size_mib"`
	Customize    string   `json:"customize"`
	Revision     int      `json:"revision"`
}

// GuestPackages are installed in the image: what Ansible and the lab need.
var GuestPackages = []string{
	"linux-image-amd64", "initramfs-tools", "systemd-sysv", "udev", "dbus", "kmod",
	"procps", "iproute2", "iputils-ping", "netbase", "openssh-server",
	"python3", "python3-apt", "sudo", "util-linux", "e2fsprogs",
}

// ClusterPackages are served to the guests by the lab's package source, not
// installed: the roles install them.
var ClusterPackages = []string{"corosync", "dlm-controld", "gfs2-utils", "ocfs2-tools", "psmisc"}

// NewRecipe returns the recipe of the standard lab image for p.
func NewRecipe(p Platform, mirror string) Recipe {
	mirror = strings.TrimRight(mirror, "/")
	sources := make([]string, len(p.Sources))
	for i, s := range p.Sources {
		sources[i] = fmt.Sprintf(s, mirror)
	}
	return Recipe{
		Platform:     p.Name,
		Suite:        p.Suite,
		Sources:      sources,
		Packages:     append([]string(nil), GuestPackages...),
		RepoPackages: append([]string(nil), ClusterPackages...),
		SizeMiB:      4096,
		Customize:    customizeScript,
		Revision:     imageRevision,
	}
}

// ID names the image: its platform and the first 12 hex digits of the
// recipe's hash.
func (r Recipe) ID() string {
	b, _ := json.Marshal(r) // a struct of strings and ints always marshals
	sum := sha256.Sum256(b)
	return r.Platform + "-" + hex.EncodeToString(sum[:])[:12]
}

// MmdebstrapArgs is the mmdebstrap command line that builds the root file
// system into rootfs, running hook as the customize hook.
func (r Recipe) MmdebstrapArgs(rootfs, hook string) []string {
	pkgs := append([]string(nil), r.Packages...)
	sort.Strings(pkgs)
	args := []string{
		"--mode=root", "--variant=minbase", "--quiet",
		"--include=" + strings.Join(pkgs, ","),
		"--customize-hook=" + hook,
		r.Suite, rootfs,
	}
	return append(args, r.Sources...)
}

// Image is a built guest image in the cache.
type Image struct{ Dir string }

func (im Image) Root() string       { return filepath.Join(im.Dir, "root.raw") }
func (im Image) Kernel() string     { return filepath.Join(im.Dir, "vmlinuz") }
func (im Image) Initrd() string     { return filepath.Join(im.Dir, "initrd.img") }
func (im Image) Key() string        { return filepath.Join(im.Dir, "id_ed25519") }
func (im Image) RepoDir() string    { return filepath.Join(im.Dir, "repo") }
func (im Image) recipePath() string { return filepath.Join(im.Dir, "recipe.json") }

// For is where the image of r lives in cacheDir.
func For(cacheDir string, r Recipe) Image {
	return Image{Dir: filepath.Join(cacheDir, "images", r.ID())}
}

// Ready reports whether the image was completely built: the recipe file is
// written last, after everything else is in place.
func (im Image) Ready() bool {
	_, err := os.Stat(im.recipePath())
	return err == nil
}

// Build makes the image of r in cacheDir unless it is already there, and
// returns it. Concurrent builds of one cache wait for each other; a build
// that was interrupted leaves only a scratch directory, removed by the next.
func Build(ctx context.Context, cacheDir string, r Recipe, log io.Writer) (Image, bool, error) {
	im := For(cacheDir, r)
	if im.Ready() {
		return im, false, nil
	}
	imagesDir := filepath.Join(cacheDir, "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		return im, false, fmt.Errorf("create image cache: %w", err)
	}
	unlock, err := proc.LockFile(ctx, filepath.Join(imagesDir, ".lock"), log, "another image build")
	if err != nil {
		return im, false, err
	}
	defer unlock()
	if im.Ready() {
		return im, false, nil
	}
	// Nobody else holds the lock: any scratch directory is a dead build's.
	stale, _ := filepath.Glob(filepath.Join(imagesDir, ".build-*"))
	for _, d := range stale {
		if err := removeBuildDir(d); err != nil {
			return im, false, fmt.Errorf("remove an interrupted build: %w", err)
		}
	}
	scratch, err := os.MkdirTemp(imagesDir, ".build-"+r.ID()+"-")
	if err != nil {
		return im, false, fmt.Errorf("create build directory: %w", err)
	}
	defer removeBuildDir(scratch)
	if err := assemble(ctx, Image{Dir: scratch}, r, log); err != nil {
		return im, false, err
	}
	if err := os.Rename(scratch, im.Dir); err != nil {
		return im, false, fmt.Errorf("move the image into the cache: %w", err)
	}
	return im, true, nil
}

func assemble(ctx context.Context, im Image, r Recipe, log io.Writer) error {
	if _, err := run(ctx, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab", "-f", im.Key()); err != nil {
		return err
	}
	pub, err := os.ReadFile(im.Key() + ".pub")
	if err != nil {
		return fmt.Errorf("read the lab's public key: %w", err)
	}
	hook := filepath.Join(im.Dir, "customize.sh")
	if err := os.WriteFile(hook, []byte(r.Customize), 0o755); err != nil {
		return fmt.Errorf("write the customize hook: %w", err)
	}
	rootfs := filepath.Join(im.Dir, "rootfs")
	env := []string{
		"LAB_AUTHORIZED_KEY=" + strings.TrimSpace(string(pub)),
		"LAB_REPO_DIR=" + im.RepoDir(),
		"LAB_REPO_PACKAGES=" + strings.Join(r.RepoPackages, " "),
	}
	fmt.Fprintf(log, "lab: building the %s image with mmdebstrap (about 2 minutes)\n", r.Platform)
	t0 := time.Now()
	if err := runLogged(ctx, filepath.Join(im.Dir, "mmdebstrap.log"), env, "mmdebstrap", r.MmdebstrapArgs(rootfs, hook)...); err != nil {
		return err
	}
	fmt.Fprintf(log, "lab: mmdebstrap %.0f s\n", time.Since(t0).Seconds())
	for name, pattern := range map[string]string{im.Kernel(): "vmlinuz-*", im.Initrd(): "initrd.img-*"} {
		found, _ := filepath.Glob(filepath.Join(rootfs, "boot", pattern))
		if len(found) != 1 {
			return fmt.Errorf("expected one %s in the image's /boot, found %d", pattern, len(found))
		}
		if err := copyFile(found[0], name); err != nil {
			return err
		}
	}
	t1 := time.Now()
	if _, err := run(ctx, "", "mkfs.ext4", "-q", "-F", "-L", "labroot", "-d", rootfs, im.Root(), fmt.Sprintf("%dM", r.SizeMiB)); err != nil {
		return err
	}
	if err := os.RemoveAll(rootfs); err != nil {
		return fmt.Errorf("remove the build's root file system: %w", err)
	}
	if err := WriteFlatRepo(ctx, im.RepoDir()); err != nil {
		return err
	}
	fmt.Fprintf(log, "lab: file system and package source %.0f s\n", time.Since(t1).Seconds())
	b, _ := json.MarshalIndent(r, "", "  ")
	return os.WriteFile(im.recipePath(), append(b, '\n'), 0o644)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return out.Close()
}
