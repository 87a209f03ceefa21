// Package blockdev probes a block device or image file before anything is
// written to it: GFS2 and OCFS2 superblocks read directly from the device,
// other signatures through blkid, GPT and MBR partition tables directly, and
// whether the device is mounted or held by the kernel.
package blockdev

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directAlign is the alignment O_DIRECT needs for the buffer, the offset and
// the length. 4096 covers both 512-byte and 4K logical sectors.
const directAlign = 4096

// Device is a block device or image file opened read-only. Reads bypass the
// page cache when the kernel allows it: another node may have just written
// the shared disk, and a cached block would hide that.
type Device struct {
	Path  string
	f     *os.File
	size  int64
	block bool
	// direct is true when reads use O_DIRECT.
	direct bool
}

// Open opens path read-only for probing. A block device's buffer cache is
// flushed first, so that tools reading through the cache (blkid) see the
// disk as it is now.
func Open(path string) (*Device, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot probe %s: %w", path, err)
	}
	block := st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0
	if !block && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("cannot probe %s: not a block device or a regular file (%s)", path, st.Mode().Type())
	}
	d := &Device{Path: path, block: block, direct: true}
	d.f, err = os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if errors.Is(err, unix.EINVAL) {
		// tmpfs and some other file systems refuse O_DIRECT; their page
		// cache is the only copy, so a cached read is the truth there.
		d.direct = false
		d.f, err = os.OpenFile(path, os.O_RDONLY, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if block {
		// Without root this fails with EACCES; O_DIRECT reads still see the
		// disk, only blkid's view may be stale, so carry on.
		_ = unix.IoctlSetInt(int(d.f.Fd()), unix.BLKFLSBUF, 0)
	} else {
		_ = unix.Fadvise(int(d.f.Fd()), 0, 0, unix.FADV_DONTNEED)
	}
	d.size, err = d.f.Seek(0, io.SeekEnd)
	if err != nil {
		d.f.Close()
		return nil, fmt.Errorf("cannot get the size of %s: %w", path, err)
	}
	return d, nil
}

// Size is the device's size in bytes.
func (d *Device) Size() int64 { return d.size }

// IsBlockDevice reports whether the path is a block device (not an image file).
func (d *Device) IsBlockDevice() bool { return d.block }

// Close releases the device.
func (d *Device) Close() error { return d.f.Close() }

// ReadAt implements io.ReaderAt. With O_DIRECT, the read is widened to
// aligned boundaries through an aligned buffer and the asked part copied out.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", d.Path, off)
	}
	if off >= d.size {
		return 0, io.EOF
	}
	if !d.direct {
		return d.f.ReadAt(p, off)
	}
	start := off &^ (directAlign - 1)
	end := (off + int64(len(p)) + directAlign - 1) &^ (directAlign - 1)
	buf := alignedBuffer(int(end - start))
	n, err := d.f.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read %s at %d: %w", d.Path, start, err)
	}
	avail := int64(n) - (off - start)
	if avail <= 0 {
		return 0, io.EOF
	}
	copied := copy(p, buf[off-start:int64(n)])
	if copied < len(p) {
		return copied, io.EOF
	}
	return copied, nil
}

func alignedBuffer(n int) []byte {
	raw := make([]byte, n+directAlign)
	shift := 0
	if rem := int(uintptrOf(raw) % directAlign); rem != 0 {
		shift = directAlign - rem
	}
	return raw[shift : shift+n]
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
