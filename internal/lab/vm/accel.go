package vm

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/image"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/proc"
)

// ChooseAccel returns the accelerator for the lab's VMs. "auto" uses KVM
// only where it really boots the guest kernel quickly: some KVMs (a
// paravirtual one, for instance) exist but cannot run a stock kernel, or
// crawl. The probe runs once per kernel and its answer is cached.
func ChooseAccel(ctx context.Context, want, cacheDir string, im image.Image, log io.Writer) string {
	if want == "tcg" || want == "kvm" {
		return want
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	cached := filepath.Join(im.Dir, "accel")
	if b, err := os.ReadFile(cached); err == nil {
		return strings.TrimSpace(string(b))
	}
	accel := "tcg"
	if d, ok := probeKVM(ctx, im); ok {
		accel = "kvm"
		fmt.Fprintf(log, "lab: KVM boots the guest kernel in %.1f s: using it\n", d.Seconds())
	} else {
		fmt.Fprintf(log, "lab: /dev/kvm cannot boot the guest kernel quickly: using TCG\n")
	}
	os.WriteFile(cached, []byte(accel+"\n"), 0o644)
	return accel
}

// probeKVM boots the kernel alone under KVM: without a root disk it panics
// as soon as its drivers are up, which takes a second or two on a working
// KVM.
func probeKVM(ctx context.Context, im image.Image) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "lab-kvm-probe-")
	if err != nil {
		return 0, false
	}
	defer os.RemoveAll(dir)
	console := filepath.Join(dir, "console")
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", im.Kernel(), "-append", "console=ttyS0 panic=-1",
		"-serial", "file:"+console)
	// Held until the probe is waited for: see proc.Reap.
	defer proc.HoldReaping()()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, false
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(console)
			if strings.Contains(string(b), "Kernel panic") {
				return time.Since(t0), true
			}
			return 0, false
		case <-time.After(200 * time.Millisecond):
			b, _ := os.ReadFile(console)
			if strings.Contains(string(b), "Kernel panic") {
				cmd.Process.Kill()
				<-done
				return time.Since(t0), true
			}
		case <-ctx.Done():
			<-done
			return 0, false
		}
	}
}
