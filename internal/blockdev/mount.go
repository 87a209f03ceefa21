package blockdev

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	Major, Minor uint32
	MountPoint   string
	FSType       string
	Source       string
}

// ParseMountInfo reads the mountinfo format (proc(5)).
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 7 || sep < 0 || sep+2 >= len(fields) {
			return nil, fmt.Errorf("mountinfo line %d is malformed: %q", n, line)
		}
		maj, min, ok := strings.Cut(fields[2], ":")
		major, err1 := strconv.ParseUint(maj, 10, 32)
		minor, err2 := strconv.ParseUint(min, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo line %d has device number %q", n, fields[2])
		}
		mounts = append(mounts, Mount{
			Major:      uint32(major),
			Minor:      uint32(minor),
			MountPoint: unescapeOctal(fields[4]),
			FSType:     unescapeOctal(fields[sep+1]),
			Source:     unescapeOctal(fields[sep+2]),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// unescapeOctal undoes the \ooo escaping of spaces and other characters.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Host is where the probe finds the kernel's view of devices; tests point it
// at a fake tree.
type Host struct {
	MountInfo string // /proc/self/mountinfo
	Swaps     string // /proc/swaps
	SysFS     string // /sys
}

// DefaultHost is the running system.
var DefaultHost = Host{MountInfo: "/proc/self/mountinfo", Swaps: "/proc/swaps", SysFS: "/sys"}

type devNum struct{ major, minor uint32 }

// Usage is how the running system uses a device.
type Usage struct {
	// Mounts of the device itself, of one of its partitions, or of a loop
	// device backed by the image file.
	Mounts []Mount
	// Swap lists swap areas on the device (paths from /proc/swaps).
	Swap []string
	// Holders lists kernel users of the device in sysfs (device-mapper,
	// md...) and loop devices backed by the image file.
	Holders []string
}

// InUse reports whether anything on this host uses the device.
func (u Usage) InUse() bool { return len(u.Mounts)+len(u.Swap)+len(u.Holders) > 0 }

// Describe says in words how the device is used.
func (u Usage) Describe() string {
	var parts []string
	for _, m := range u.Mounts {
		parts = append(parts, fmt.Sprintf("mounted at %s (%s)", m.MountPoint, m.FSType))
	}
	for _, s := range u.Swap {
		parts = append(parts, "in use as swap ("+s+")")
	}
	for _, h := range u.Holders {
		parts = append(parts, "held by "+h)
	}
	return strings.Join(parts, ", ")
}

// UsageOf finds how this host uses path: for a block device, through its
// device number and those of its partitions and holders; for an image file,
// through the loop devices backed by it.
func (h Host) UsageOf(path string) (Usage, error) {
	var u Usage
	st, err := os.Stat(path)
	if err != nil {
		return u, fmt.Errorf("stat %s: %w", path, err)
	}
	nums := map[devNum]string{}
	if st.Mode()&os.ModeDevice != 0 {
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return u, fmt.Errorf("stat %s: no device number", path)
		}
		d := devNum{unix.Major(uint64(sys.Rdev)), unix.Minor(uint64(sys.Rdev))}
		nums[d] = path
		h.addPartitions(d, nums)
		u.Holders = append(u.Holders, h.holders(d)...)
	} else {
		loops, err := h.loopsBackedBy(path)
		if err != nil {
			return u, err
		}
		for d, name := range loops {
			nums[d] = name
			u.Holders = append(u.Holders, "loop device /dev/"+name)
			h.addPartitions(d, nums)
		}
	}
	mounts, err := h.mounts()
	if err != nil {
		return u, err
	}
	for _, m := range mounts {
		if _, ok := nums[devNum{m.Major, m.Minor}]; ok {
			u.Mounts = append(u.Mounts, m)
		}
	}
	u.Swap, err = h.swapsOn(path, nums)
	return u, err
}

func (h Host) mounts() ([]Mount, error) {
	f, err := os.Open(h.MountInfo)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	return ParseMountInfo(f)
}

// addPartitions adds the device numbers of d's partitions (sysfs lists them
// as subdirectories with a "partition" file).
func (h Host) addPartitions(d devNum, nums map[devNum]string) {
	dir := filepath.Join(h.SysFS, "dev", "block", fmt.Sprintf("%d:%d", d.major, d.minor))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "partition")); err != nil {
			continue
		}
		if pd, ok := readDevNum(filepath.Join(dir, e.Name(), "dev")); ok {
			nums[pd] = "/dev/" + e.Name()
		}
	}
}

// holders lists the sysfs holders of d and of its partitions.
func (h Host) holders(d devNum) []string {
	dir := filepath.Join(h.SysFS, "dev", "block", fmt.Sprintf("%d:%d", d.major, d.minor))
	var out []string
	add := func(dir string) {
		entries, _ := os.ReadDir(filepath.Join(dir, "holders"))
		for _, e := range entries {
			out = append(out, "/dev/"+e.Name())
		}
	}
	add(dir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "partition")); err == nil {
			add(filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// loopsBackedBy finds loop devices whose backing file is path.
func (h Host) loopsBackedBy(path string) (map[devNum]string, error) {
	target, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	out := map[devNum]string{}
	blocks, err := os.ReadDir(filepath.Join(h.SysFS, "block"))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	for _, b := range blocks {
		if !strings.HasPrefix(b.Name(), "loop") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(h.SysFS, "block", b.Name(), "loop", "backing_file"))
		if err != nil {
			continue
		}
		backing := strings.TrimSpace(string(data))
		if st, err := os.Stat(backing); err != nil || !os.SameFile(st, target) {
			continue
		}
		if d, ok := readDevNum(filepath.Join(h.SysFS, "block", b.Name(), "dev")); ok {
			out[d] = b.Name()
		}
	}
	return out, nil
}

func readDevNum(path string) (devNum, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return devNum{}, false
	}
	maj, min, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return devNum{}, false
	}
	return devNum{uint32(a), uint32(b)}, true
}

// swapsOn lists the swap areas in /proc/swaps that are path itself or one
// of the devices in nums.
func (h Host) swapsOn(path string, nums map[devNum]string) ([]string, error) {
	data, err := os.ReadFile(h.Swaps)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read swaps: %w", err)
	}
	target, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	var out []string
	for i, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if i == 0 || len(fields) == 0 {
			continue
		}
		name := unescapeOctal(fields[0])
		st, err := os.Stat(name)
		if err != nil {
			continue
		}
		if os.SameFile(st, target) {
			out = append(out, name)
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && st.Mode()&os.ModeDevice != 0 {
			if _, ok := nums[devNum{unix.Major(uint64(sys.Rdev)), unix.Minor(uint64(sys.Rdev))}]; ok {
				out = append(out, name)
			}
		}
	}
	return out, nil
}
