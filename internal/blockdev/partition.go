package blockdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// PartitionTable is a partition table found on the device.
type PartitionTable struct {
	Type       string // gpt or mbr
	Partitions int    // partitions in use
	// Insane is set, and nothing else read, when a GPT header describes a
	// partition array no real table has (reading it would mean allocating
	// it whole).
	Insane string
}

// maxGPTArray bounds the partition array a GPT header may describe: the
// standard one is 128 entries of 128 bytes (16 KiB).
const maxGPTArray = 4 << 20

// GPT layout (UEFI specification, chapter 5.3): a 92-byte header at LBA 1,
// a copy at the last LBA, each pointing to an array of 128-byte entries.
const (
	gptSignature  = "EFI PART"
	gptRevision   = 0x00010000 // 1.0
	gptHeaderSize = 92
	gptEntrySize  = 128
)

// MBR layout: four 16-byte entries at 446, the signature 0x55 0xAA at 510.
const (
	mbrSize         = 512
	mbrEntries      = 446
	mbrEntrySize    = 16
	mbrSignatureOff = 510
)

// errGPTContent is a GPT whose bytes are wrong (signature, revision, sizes,
// a CRC), as opposed to one that could not be read: only a primary GPT
// that is wrong sends the reader to the backup at the end of the disk.
var errGPTContent = errors.New("not a valid GPT")

// checkGPTHeader reads the GPT header at LBA 1, if there is one, and says
// what is wrong with the size of the partition array it describes. It looks
// at the signature only, not the CRC: the sizes are checked before anything
// is allocated for them.
func checkGPTHeader(r io.ReaderAt, logical int) string {
	hdr := make([]byte, gptHeaderSize)
	if err := readFull(r, hdr, int64(logical)); err != nil || string(hdr[:8]) != gptSignature {
		return ""
	}
	entries, size := binary.LittleEndian.Uint32(hdr[80:]), binary.LittleEndian.Uint32(hdr[84:])
	if size < gptEntrySize || size%8 != 0 || uint64(entries)*uint64(size) > maxGPTArray {
		return fmt.Sprintf("its header describes %d entries of %d bytes", entries, size)
	}
	return ""
}

// ReadPartitionTable looks for a GPT or MBR partition table, opening the
// device read-only. It returns nil when there is none.
func ReadPartitionTable(path string) (*PartitionTable, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s to read its partition table: %w", path, err)
	}
	defer f.Close()
	logical := 512
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeDevice != 0 {
		if n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && n >= 512 {
			logical = n
		}
	}
	// A block device's size is what seeking to its end says (Stat says 0).
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		size = -1
	}
	return readPartitionTable(f, size, logical), nil
}

// readPartitionTable reads a GPT, else an MBR, from a device of size bytes
// (negative: unknown) with the given logical sector size. A table that
// cannot be read whole counts as none: a read error shows up again when the
// superblocks are read.
func readPartitionTable(r io.ReaderAt, size int64, logical int) *PartitionTable {
	if insane := checkGPTHeader(r, logical); insane != "" {
		return &PartitionTable{Type: "gpt", Insane: insane}
	}
	if pt, err := readGPT(r, size, logical); err == nil {
		return pt
	}
	return readMBR(r)
}

// readGPT reads the primary GPT and, when its content is invalid (not when
// it cannot be read), the backup GPT at the last LBA.
func readGPT(r io.ReaderAt, size int64, logical int) (*PartitionTable, error) {
	lba01 := make([]byte, 2*logical)
	if err := readFull(r, lba01, 0); err != nil {
		return nil, err
	}
	hdr, err := parseGPTHeader(lba01[logical:])
	if err == nil {
		var pt *PartitionTable
		if pt, err = gptTable(r, hdr, "header", logical); err == nil {
			return pt, nil
		}
	}
	if !errors.Is(err, errGPTContent) || size < 2*int64(logical) {
		return nil, err
	}
	last := uint64(size/int64(logical)) - 1
	backup := make([]byte, logical)
	if err := readFull(r, backup, int64(last)*int64(logical)); err != nil {
		return nil, err
	}
	if hdr, err = parseGPTHeader(backup); err != nil {
		return nil, err
	}
	if hdr.myLBA != last {
		return nil, fmt.Errorf("backup GPT header says it is at LBA %d, found at %d: %w", hdr.myLBA, last, errGPTContent)
	}
	return gptTable(r, hdr, "backup header", logical)
}

// gptTable reads the partition array of a valid header, unless its size is
// beyond reason (checkGPTHeader has looked at the primary's already; this
// bounds the backup's, and the primary's should it change in between).
func gptTable(r io.ReaderAt, hdr gptHeader, which string, logical int) (*PartitionTable, error) {
	if uint64(hdr.entries)*uint64(hdr.entrySize) > maxGPTArray {
		return &PartitionTable{Type: "gpt", Insane: fmt.Sprintf("its %s describes %d entries of %d bytes", which, hdr.entries, hdr.entrySize)}, nil
	}
	n, err := countGPTEntries(r, hdr, logical)
	if err != nil {
		return nil, err
	}
	return &PartitionTable{Type: "gpt", Partitions: n}, nil
}

// gptHeader is what the reader needs from a GPT header.
type gptHeader struct {
	myLBA      uint64 // where this header says it is
	entriesLBA uint64
	entries    uint32
	entrySize  uint32
	entriesCRC uint32
}

// parseGPTHeader checks a GPT header: signature, revision 1.0, a 92-byte
// header, the reserved field zero, the header's CRC32.
func parseGPTHeader(b []byte) (gptHeader, error) {
	le := binary.LittleEndian
	if len(b) < gptHeaderSize || string(b[:8]) != gptSignature {
		return gptHeader{}, fmt.Errorf("no GPT signature: %w", errGPTContent)
	}
	if le.Uint32(b[8:]) != gptRevision || le.Uint32(b[12:]) != gptHeaderSize || le.Uint32(b[20:]) != 0 {
		return gptHeader{}, fmt.Errorf("GPT revision, header size or reserved field: %w", errGPTContent)
	}
	crc := crc32.NewIEEE()
	crc.Write(b[:16])
	crc.Write([]byte{0, 0, 0, 0}) // the CRC field itself counts as zero
	crc.Write(b[20:gptHeaderSize])
	if crc.Sum32() != le.Uint32(b[16:]) {
		return gptHeader{}, fmt.Errorf("GPT header CRC: %w", errGPTContent)
	}
	return gptHeader{
		myLBA:      le.Uint64(b[24:]),
		entriesLBA: le.Uint64(b[72:]),
		entries:    le.Uint32(b[80:]),
		entrySize:  le.Uint32(b[84:]),
		entriesCRC: le.Uint32(b[88:]),
	}, nil
}

// countGPTEntries reads the partition array a header points to, checks its
// CRC32 and counts the entries in use: a type GUID that is not zero and a
// size (last - first + 1 sectors) that is not zero. gptTable has bounded
// the array's size.
func countGPTEntries(r io.ReaderAt, hdr gptHeader, logical int) (int, error) {
	// The LBA is read from disk: the offset may wrap around to a negative
	// one, which no read accepts, even of an empty array.
	off := int64(hdr.entriesLBA) * int64(logical)
	if off < 0 {
		return 0, fmt.Errorf("GPT partition array at LBA %d: beyond any disk", hdr.entriesLBA)
	}
	array := make([]byte, int(hdr.entries)*int(hdr.entrySize))
	if err := readFull(r, array, off); err != nil {
		return 0, err
	}
	if crc32.ChecksumIEEE(array) != hdr.entriesCRC {
		return 0, fmt.Errorf("GPT partition array CRC: %w", errGPTContent)
	}
	step := int(hdr.entrySize)
	n := 0
	for e := array; len(e) >= step; e = e[step:] {
		if step != gptEntrySize {
			return 0, fmt.Errorf("GPT entries of %d bytes instead of %d", step, gptEntrySize)
		}
		if allZero(e[:16]) {
			continue // unused entry
		}
		first, last := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
		if int64((last-first+1)*uint64(logical)) > 0 {
			n++
		}
	}
	return n, nil
}

// readMBR reads an MBR: the signature, and four entries whose status byte
// is 0x00 or 0x80; an entry with a size is a partition (a protective MBR's
// 0xEE entry too, when the GPT behind it is unreadable).
func readMBR(r io.ReaderAt) *PartitionTable {
	b := make([]byte, mbrSize)
	if err := readFull(r, b, 0); err != nil || b[mbrSignatureOff] != 0x55 || b[mbrSignatureOff+1] != 0xAA {
		return nil
	}
	pt := &PartitionTable{Type: "mbr"}
	for i := range 4 {
		e := b[mbrEntries+i*mbrEntrySize:][:mbrEntrySize]
		if e[0] != 0x00 && e[0] != 0x80 {
			return nil
		}
		if binary.LittleEndian.Uint32(e[12:]) != 0 {
			pt.Partitions++
		}
	}
	return pt
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
