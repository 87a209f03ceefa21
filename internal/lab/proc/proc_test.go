package proc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestProcessOwnership(t *testing.T) {
	marker := "/lab-test-" + fmt.Sprint(time.Now().UnixNano()) + "/"
	cmd := exec.Command("sh", "-c", "sleep 30", marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	pid := cmd.Process.Pid
	// Start returns before the child has exec'd: until then its command
	// line is this test binary's.
	for deadline := time.Now().Add(5 * time.Second); !Alive(pid, marker); {
		if time.Now().After(deadline) {
			t.Fatal("own process not recognised")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if Alive(pid, marker+"other") {
		t.Error("a process recognised under another lab's marker")
	}
	if got := With(marker, "sleep 30"); !reflect.DeepEqual(got, []int{pid}) {
		t.Errorf("With = %v, want [%d]", got, pid)
	}
	// Someone else's pid is never signalled.
	if err := Stop(pid, marker+"other", time.Second); err != nil {
		t.Fatal(err)
	}
	if !Alive(pid, marker) {
		t.Fatal("Stop killed a process that is not the lab's")
	}
	if err := Stop(pid, marker, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	<-waited
	if Alive(pid, marker) {
		t.Error("process still alive")
	}
	if ReadPID(filepath.Join(t.TempDir(), "missing.pid")) != 0 {
		t.Error("missing pid file")
	}
}

// TestKillFrozenProcess: SIGKILL ends a process stopped by SIGSTOP, as a
// frozen qemu is.
func TestKillFrozenProcess(t *testing.T) {
	marker := "/lab-test-" + fmt.Sprint(time.Now().UnixNano()) + "/"
	cmd := exec.Command("sh", "-c", "sleep 30", marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); !Alive(pid, marker); {
		if time.Now().After(deadline) {
			t.Fatal("own process not recognised")
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGSTOP)
	for deadline := time.Now().Add(5 * time.Second); !Frozen(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("state %c after SIGSTOP", State(pid))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !Alive(pid, marker) {
		t.Error("a frozen process is not alive")
	}
	if err := Kill(pid, marker); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("wait = %v, want killed", err)
	}
	if State(pid) != 0 || Frozen(pid) {
		t.Errorf("state after kill and wait: %c", State(pid))
	}
}

// TestReapChildren: an exited qemu that is this process's child is
// reaped; a running one, and any other child, are left alone.
func TestReapChildren(t *testing.T) {
	qemu := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	if err := os.Symlink("/bin/sleep", qemu); err != nil {
		t.Fatal(err)
	}
	start := func(path string) int {
		pid, err := syscall.ForkExec(path, []string{path, "30"}, &syscall.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	dead, alive, other := start(qemu), start(qemu), start("/bin/sleep")
	defer func() {
		for _, pid := range []int{dead, alive, other} {
			syscall.Kill(pid, syscall.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", dead))
		if comm, _, _ := parseStat(b); comm == "qemu-system-x86" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child never ran as qemu-system-x86: %s", b)
		}
	}
	syscall.Kill(dead, syscall.SIGKILL)
	syscall.Kill(other, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); State(dead) != 'Z' || State(other) != 'Z'; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("killed children in states %c, %c", State(dead), State(other))
		}
	}
	Reap()
	if State(dead) != 0 {
		t.Errorf("the exited qemu is not reaped: state %c", State(dead))
	}
	if State(alive) == 0 || State(alive) == 'Z' {
		t.Errorf("the running qemu: state %c", State(alive))
	}
	if State(other) != 'Z' {
		t.Errorf("another child was reaped: state %c", State(other))
	}
}

func TestParseStat(t *testing.T) {
	comm, state, ppid := parseStat([]byte("4242 (a (b) c) S 17 4242 4242 0 -1 4194560"))
	if comm != "a (b) c" || state != 'S' || ppid != 17 {
		t.Errorf("parseStat = %q %c %d", comm, state, ppid)
	}
	if comm, state, ppid := parseStat([]byte("garbage")); comm != "" || state != 0 || ppid != 0 {
		t.Errorf("parseStat(garbage) = %q %c %d", comm, state, ppid)
	}
}

func TestLocksOn(t *testing.T) {
	procLocks := `1: POSIX  ADVISORY  WRITE 11878 fe:00:398607 0 EOF
2: OFDLCK ADVISORY  READ -1 fe:00:5399215 100 101
3: OFDLCK ADVISORY  READ -1 fe:00:5399215 201 201
3: -> OFDLCK ADVISORY  WRITE -1 fe:00:5399215 201 201
4: FLOCK  ADVISORY  WRITE 123 08:11:5399215 0 EOF
`
	dev := unix.Mkdev(0xfe, 0)
	if n := locksOn(procLocks, dev, 5399215); n != 2 {
		t.Errorf("locks on fe:00:5399215 = %d, want 2 (a blocked request holds nothing)", n)
	}
	if n := locksOn(procLocks, unix.Mkdev(8, 0x11), 5399215); n != 1 {
		t.Errorf("locks on 08:11:5399215 = %d, want 1", n)
	}
	if n := locksOn(procLocks, dev, 1); n != 0 {
		t.Errorf("locks on another inode = %d", n)
	}
}

// TestWaitUnlocked takes an OFD lock as QEMU does on its images.
func TestWaitUnlocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.qcow2")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 100, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := WaitUnlocked(ctx, path, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "still locked") {
		t.Errorf("locked image: %v", err)
	}
	f.Close()
	if err := WaitUnlocked(ctx, path, time.Second); err != nil {
		t.Errorf("image closed: %v", err)
	}
	if err := WaitUnlocked(ctx, path+".missing", time.Second); err != nil {
		t.Errorf("no image: %v", err)
	}
}
