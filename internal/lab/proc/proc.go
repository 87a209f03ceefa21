// Package proc keeps track of the lab's processes, which outlive the
// command that starts them: pid files, a marker in the command line that
// tells the lab's processes from others (a pid file outlives its process),
// stopping and killing (a Frozen one too), reaping those adopted as a
// subreaper, and the locks processes hold on files.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ReadPID reads a pid file; a missing or empty file is pid 0.
func ReadPID(path string) int {
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

// Alive reports whether pid is a live process (not a zombie) whose
// command line contains marker (the lab directory): a pid file outlives its
// process, and the pid may since belong to someone else.
func Alive(pid int, marker string) bool {
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

// Stop ends pid if it is still ours: SIGTERM, then SIGKILL after
// grace. It returns once the process is gone.
func Stop(pid int, marker string, grace time.Duration) error {
	if !Alive(pid, marker) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("stop process %d: %w", pid, err)
	}
	if waitGone(pid, marker, grace) {
		Reap()
		return nil
	}
	return Kill(pid, marker)
}

// Kill ends pid at once (SIGKILL), as a power cut would. A process
// stopped by SIGSTOP (a Frozen VM) dies too: SIGKILL wakes it.
func Kill(pid int, marker string) error {
	if !Alive(pid, marker) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("kill process %d: %w", pid, err)
	}
	if !waitGone(pid, marker, 10*time.Second) {
		return fmt.Errorf("process %d is still there 10 s after SIGKILL", pid)
	}
	Reap()
	return nil
}

func waitGone(pid int, marker string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !Alive(pid, marker) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// State is the state letter of pid in /proc/pid/stat (R, S, D, T, Z,
// ...), 0 when there is no such process.
func State(pid int) byte {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, state, _ := parseStat(stat)
	return state
}

// Frozen reports whether pid is stopped by a signal (SIGSTOP): alive, and
// running nothing.
func Frozen(pid int) bool {
	s := State(pid)
	return s == 'T' || s == 't'
}

// launches holds Reap off while a qemu that os/exec waits for runs: an
// exited one would look the same as those this process adopted.
var launches sync.RWMutex

// BecomeSubreaper makes this process adopt the VMs it starts (QEMU
// daemonizes, and its daemon is adopted by the nearest subreaper), so that
// it can reap them when they end: pid 1 of a container may never reap
// anything.
func BecomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// HoldReaping keeps Reap from running until the returned function is
// called: hold it from the start of a qemu this process runs (and waits
// for) until the wait.
func HoldReaping() (release func()) {
	launches.RLock()
	return launches.RUnlock
}

// GuestConnectionName is the command name of the processes QEMU runs per
// guest connection (a guestfwd's cmd: bin/lab repo-conn and relay).
// QEMU spawns them through GLib, which forks twice so that they are not
// its children: a subreaper above QEMU adopts them, and Reap knows them by
// this name.
const GuestConnectionName = "lab-guest-conn"

// NameGuestConnection gives this process GuestConnectionName as its
// command name (what /proc/PID/stat shows, a zombie's too).
func NameGuestConnection() error {
	return os.WriteFile("/proc/self/comm", []byte(GuestConnectionName), 0)
}

// Reap reaps this process's children that are exited qemus (VMs that
// ended, and the middle process of QEMU's double fork) or guest
// connections (GuestConnectionName), all adopted by a subreaper. Other
// children are left to whoever started them (os/exec waits for its own):
// a wait for any child would take their exit status.
func Reap() {
	launches.Lock()
	defer launches.Unlock()
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		comm, state, ppid := parseStat(stat)
		if ppid == self && state == 'Z' && (strings.HasPrefix(comm, "qemu-system") || comm == GuestConnectionName) {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}

// parseStat reads the command name (at most 15 bytes), state and parent
// of /proc/pid/stat; the name may hold spaces and parentheses.
func parseStat(stat []byte) (comm string, state byte, ppid int) {
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0, 0
	}
	f := strings.Fields(string(stat[end+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return "", 0, 0
	}
	ppid, _ = strconv.Atoi(f[1])
	return string(stat[open+1 : end]), f[0][0], ppid
}

// WaitUnlocked waits until no process holds a lock on path (an image file
// QEMU locks while it has it open), for at most timeout.
func WaitUnlocked(ctx context.Context, path string, timeout time.Duration) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("stat %s: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile("/proc/locks")
		if err != nil {
			return fmt.Errorf("read /proc/locks: %w", err)
		}
		if locksOn(string(b), uint64(st.Dev), st.Ino) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is still locked %.0f s after its qemu ended", path, timeout.Seconds())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// locksOn counts the locks /proc/locks lists on the file dev:ino; blocked
// requests ("->" lines) hold nothing and are not counted.
func locksOn(procLocks string, dev, ino uint64) int {
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), ino)
	n := 0
	for _, line := range strings.Split(procLocks, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[1] == "->" {
			continue
		}
		if f[5] == want {
			n++
		}
	}
	return n
}

// With lists the live processes whose command line contains all
// of markers.
func With(markers ...string) []int {
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
		if all && Alive(pid, markers[0]) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// RSSKiB is the resident memory of pid in KiB (0 if unknown).
func RSSKiB(pid int) int {
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
