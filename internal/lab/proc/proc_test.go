package proc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startShell runs `sh -c "sleep 30" marker` (marker is the shell's $0,
// in its command line as the lab directory is in its processes') and
// returns once both processes are what they will stay: the shell, and its
// child running sleep. Start returns before the shell has exec'd (until
// then its command line is this test binary's), and the shell forks
// before the child execs sleep (until then the child's command line is the
// shell's, marker included). The child is killed at the end of the test.
func startShell(t *testing.T, marker string) (*exec.Cmd, <-chan error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 30", marker)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if child := childRunning(pid, "sleep"); child != 0 && Alive(pid, marker) {
			t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
			return cmd, waited
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shell %d (alive %v) has no child running sleep after 5 s", pid, Alive(pid, marker))
		}
	}
}

// childRunning is the pid of a child of parent whose command name is comm
// (it has exec'd), or 0.
func childRunning(parent int, comm string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if c, _, ppid := parseStat(stat); ppid == parent && c == comm {
			return pid
		}
	}
	return 0
}

func TestProcessOwnership(t *testing.T) {
	marker := "/lab-test-" + fmt.Sprint(time.Now().UnixNano()) + "/"
	cmd, waited := startShell(t, marker)
	pid := cmd.Process.Pid
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
	cmd, waited := startShell(t, marker)
	pid := cmd.Process.Pid
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

// TestReapChildren: an exited qemu or guest connection that is this
// process's child is reaped; a running one, and any other child, are left
// alone.
func TestReapChildren(t *testing.T) {
	dir := t.TempDir()
	qemu := filepath.Join(dir, "qemu-system-x86_64")
	conn := filepath.Join(dir, GuestConnectionName)
	for _, link := range []string{qemu, conn} {
		if err := os.Symlink("/bin/sleep", link); err != nil {
			t.Fatal(err)
		}
	}
	start := func(path string) int {
		pid, err := syscall.ForkExec(path, []string{path, "30"}, &syscall.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	dead, deadConn, alive, other := start(qemu), start(conn), start(qemu), start("/bin/sleep")
	defer func() {
		for _, pid := range []int{dead, deadConn, alive, other} {
			syscall.Kill(pid, syscall.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
	}()
	for pid, want := range map[int]string{dead: "qemu-system-x86", deadConn: GuestConnectionName} {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if comm, _, _ := parseStat(b); comm == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the child never ran as %s: %s", want, b)
			}
		}
	}
	for _, pid := range []int{dead, deadConn, other} {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(5 * time.Second); State(dead) != 'Z' || State(deadConn) != 'Z' || State(other) != 'Z'; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("killed children in states %c, %c, %c", State(dead), State(deadConn), State(other))
		}
	}
	Reap()
	if State(dead) != 0 {
		t.Errorf("the exited qemu is not reaped: state %c", State(dead))
	}
	if State(deadConn) != 0 {
		t.Errorf("the exited guest connection is not reaped: state %c", State(deadConn))
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

// TestNameGuestConnection: a process that names itself so is seen under
// that name, as Reap looks for it.
func TestNameGuestConnection(t *testing.T) {
	if os.Getenv("PROC_TEST_NAME_CHILD") == "1" {
		if err := NameGuestConnection(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		b, _ := os.ReadFile("/proc/self/stat")
		comm, _, _ := parseStat(b)
		fmt.Print(comm)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNameGuestConnection$")
	cmd.Env = append(os.Environ(), "PROC_TEST_NAME_CHILD=1")
	out, err := cmd.Output()
	if err != nil || string(out) != GuestConnectionName {
		t.Errorf("the child's command name: %q, %v", out, err)
	}
}
