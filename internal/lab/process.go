package lab

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readPID reads a pid file; a missing or empty file is pid 0.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	return pid
}

// ownedAlive reports whether pid is a live process (not a zombie) whose
// command line contains marker (the lab directory): a pid file outlives its
// process, and the pid may since belong to someone else.
func ownedAlive(pid int, marker string) bool {
	if pid <= 1 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name. A zombie leader
	// is not gone while other threads still exit: the files (and qemu's
	// image locks) are released by the last one.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' && threads(pid) <= 1 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(cmdline, []byte(marker))
}

// stopProcess ends pid if it is still ours: SIGTERM, then SIGKILL after
// grace. It returns once the process is gone.
func stopProcess(pid int, marker string, grace time.Duration) error {
	if !ownedAlive(pid, marker) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("stop process %d: %w", pid, err)
	}
	if waitGone(pid, marker, grace) {
		return nil
	}
	return killProcess(pid, marker)
}

// killProcess ends pid at once (SIGKILL), as a power cut would.
func killProcess(pid int, marker string) error {
	if !ownedAlive(pid, marker) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("kill process %d: %w", pid, err)
	}
	if !waitGone(pid, marker, 10*time.Second) {
		return fmt.Errorf("process %d is still there 10 s after SIGKILL", pid)
	}
	return nil
}

func waitGone(pid int, marker string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !ownedAlive(pid, marker) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processesWith lists the live processes whose command line contains all
// of markers.
func processesWith(markers ...string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		all := true
		for _, m := range markers {
			all = all && bytes.Contains(cmdline, []byte(m))
		}
		if all && ownedAlive(pid, markers[0]) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// rssKiB is the resident memory of pid in KiB (0 if unknown).
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return 0
}

// threads counts pid's threads still in the process table.
func threads(pid int) int {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	return len(tasks)
}
