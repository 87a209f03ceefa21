package blockdev

import (
	"errors"
	"fmt"
	"io"
)

// The regions scanned for data that no signature explains: the start of the
// device, where partitions, volume headers and file systems begin (the first
// partition of a disk usually starts at 1 MiB, so a disk whose partition
// table was erased still shows its data here), and the end, where backup
// headers live. A new volume reads as zeros in both.
const (
	scanHead  = 8 << 20
	scanTail  = 1 << 20
	scanChunk = 1 << 20
)

// UnknownData is data found on a device that no signature explains.
type UnknownData struct {
	Offset int64 // of the first non-zero byte
}

// FindData returns the offset of the first non-zero byte in the first 8 MiB
// or the last 1 MiB of a device of the given size, or -1 when both are zero.
func FindData(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, scanChunk)
	scan := func(from, to int64) (int64, error) {
		for off := from; off < to; off += scanChunk {
			n := min(int64(scanChunk), to-off)
			got, err := r.ReadAt(buf[:n], off)
			if err != nil && !errors.Is(err, io.EOF) {
				return -1, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
			}
			for i, b := range buf[:got] {
				if b != 0 {
					return off + int64(i), nil
				}
			}
			if int64(got) < n {
				break
			}
		}
		return -1, nil
	}
	head := min(size, scanHead)
	if at, err := scan(0, head); at >= 0 || err != nil {
		return at, err
	}
	return scan(max(head, size-scanTail), size)
}
