package blockdev

import (
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
