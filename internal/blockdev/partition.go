package blockdev

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition"
	"golang.org/x/sys/unix"
)

// PartitionTable is a partition table found on the device.
type PartitionTable struct {
	Type       string // gpt or mbr
	Partitions int    // partitions in use
	// Insane is set, and nothing else read, when a GPT header describes a
	// partition array no real table has (go-diskfs would allocate it whole).
	Insane string
}

// maxGPTArray bounds the partition array a GPT header may describe: the
// standard one is 128 entries of 128 bytes (16 KiB).
const maxGPTArray = 4 << 20

// checkGPTHeader reads the GPT header at LBA 1, if there is one, and says
// what is wrong with the size of the partition array it describes.
func checkGPTHeader(f *os.File, logical int) string {
	hdr := make([]byte, 92)
	if _, err := f.ReadAt(hdr, int64(logical)); err != nil || string(hdr[:8]) != "EFI PART" {
		return ""
	}
	entries, size := binary.LittleEndian.Uint32(hdr[80:]), binary.LittleEndian.Uint32(hdr[84:])
	if size < 128 || size%8 != 0 || uint64(entries)*uint64(size) > maxGPTArray {
		return fmt.Sprintf("its header describes %d entries of %d bytes", entries, size)
	}
	return ""
}

// ReadPartitionTable looks for a GPT or MBR partition table with go-diskfs,
// opening the device read-only. It returns nil when there is none.
func ReadPartitionTable(path string) (*PartitionTable, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s to read its partition table: %w", path, err)
	}
	defer f.Close()
	logical, physical := 512, 512
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeDevice != 0 {
		if n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && n > 0 {
			logical = n
		}
		if n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKPBSZGET); err == nil && n > 0 {
			physical = n
		}
	}
	if insane := checkGPTHeader(f, logical); insane != "" {
		return &PartitionTable{Type: "gpt", Insane: insane}, nil
	}
	table, err := partition.Read(file.New(f, true), logical, physical)
	if err != nil {
		// go-diskfs reports "no table" and "unreadable" alike; a read
		// error shows up again when the superblocks are read.
		return nil, nil
	}
	pt := &PartitionTable{Type: table.Type()}
	for _, p := range table.GetPartitions() {
		if p != nil && p.GetSize() > 0 {
			pt.Partitions++
		}
	}
	return pt, nil
}
