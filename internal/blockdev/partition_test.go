package blockdev

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gptDisk builds an in-memory disk with a GPT the way sgdisk lays it out:
// protective MBR, primary header at LBA 1 and its array at LBA 2, backup
// array before the backup header at the last LBA.
type gptDisk struct {
	b       []byte
	logical int
}

// gptPart is one partition entry: first and last LBA (inclusive).
type gptPart struct{ first, last uint64 }

func newGPTDisk(logical int, size int64, parts ...gptPart) *gptDisk {
	d := &gptDisk{b: make([]byte, size), logical: logical}
	le := binary.LittleEndian
	last := uint64(size/int64(logical)) - 1
	// protective MBR: one 0xEE entry over the disk
	pmbr := d.b[mbrEntries:]
	pmbr[4] = 0xee
	le.PutUint32(pmbr[8:], 1)
	le.PutUint32(pmbr[12:], uint32(last))
	d.b[mbrSignatureOff], d.b[mbrSignatureOff+1] = 0x55, 0xAA

	array := make([]byte, 128*gptEntrySize)
	for i, p := range parts {
		e := array[i*gptEntrySize:]
		copy(e, "type-guid-------")
		copy(e[16:], "part-guid-------")
		le.PutUint64(e[32:], p.first)
		le.PutUint64(e[40:], p.last)
	}
	arraySectors := uint64(len(array) / logical)
	d.putHeader(1, last, 2, 128, gptEntrySize, array)
	d.putHeader(last, 1, last-arraySectors, 128, gptEntrySize, array)
	return d
}

// putHeader writes a header at LBA at and, if it is on the disk, the array
// at arrayLBA, with valid CRCs.
func (d *gptDisk) putHeader(at, alt, arrayLBA uint64, entries, entrySize uint32, array []byte) {
	le := binary.LittleEndian
	h := d.b[at*uint64(d.logical):][:gptHeaderSize]
	clear(h)
	copy(h, gptSignature)
	le.PutUint32(h[8:], gptRevision)
	le.PutUint32(h[12:], gptHeaderSize)
	le.PutUint64(h[24:], at)
	le.PutUint64(h[32:], alt)
	le.PutUint64(h[72:], arrayLBA)
	le.PutUint32(h[80:], entries)
	le.PutUint32(h[84:], entrySize)
	le.PutUint32(h[88:], crc32.ChecksumIEEE(array))
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h))
	if off := arrayLBA * uint64(d.logical); off < uint64(len(d.b)) {
		copy(d.b[off:], array)
	}
}

func (d *gptDisk) lastLBA() uint64 { return uint64(len(d.b)/d.logical) - 1 }

func (d *gptDisk) read() *PartitionTable {
	return readPartitionTable(bytes.NewReader(d.b), int64(len(d.b)), d.logical)
}

func TestReadGPT(t *testing.T) {
	const size = 1 << 20
	for _, c := range []struct {
		name    string
		logical int
		damage  func(d *gptDisk)
		want    *PartitionTable
	}{
		{"intact", 512, func(*gptDisk) {}, &PartitionTable{Type: "gpt", Partitions: 2}},
		{"4096-byte sectors", 4096, func(*gptDisk) {}, &PartitionTable{Type: "gpt", Partitions: 2}},
		{"primary header zeroed: the backup answers", 512, func(d *gptDisk) { clear(d.b[512:1024]) }, &PartitionTable{Type: "gpt", Partitions: 2}},
		{"first MiB zeroed except the backup", 512, func(d *gptDisk) { clear(d.b[:size-33*512]) }, &PartitionTable{Type: "gpt", Partitions: 2}},
		{"primary header CRC wrong: the backup answers", 512, func(d *gptDisk) { d.b[512+40]++ }, &PartitionTable{Type: "gpt", Partitions: 2}},
		{"primary array CRC wrong: the backup answers", 512, func(d *gptDisk) { d.b[2*512+40]++ }, &PartitionTable{Type: "gpt", Partitions: 2}},
		{"revision 2.0 is not a GPT this reader knows", 512, func(d *gptDisk) {
			for _, at := range []uint64{1, d.lastLBA()} {
				h := d.b[at*512:]
				binary.LittleEndian.PutUint32(h[8:], 0x00020000)
				binary.LittleEndian.PutUint32(h[16:], 0)
				binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:gptHeaderSize]))
			}
		}, &PartitionTable{Type: "mbr", Partitions: 1}},
		{"both headers zeroed: the protective MBR is what is left", 512, func(d *gptDisk) {
			clear(d.b[512:1024])
			clear(d.b[size-512:])
		}, &PartitionTable{Type: "mbr", Partitions: 1}},
		{"backup header not where it says it is", 512, func(d *gptDisk) {
			clear(d.b[512:1024])
			h := d.b[d.lastLBA()*512:][:gptHeaderSize]
			binary.LittleEndian.PutUint64(h[24:], d.lastLBA()-1)
			binary.LittleEndian.PutUint32(h[16:], 0)
			binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
		}, &PartitionTable{Type: "mbr", Partitions: 1}},
		{"primary unreadable (array beyond the disk): no backup tried", 512, func(d *gptDisk) {
			array := bytes.Clone(d.b[2*512:][:128*gptEntrySize])
			d.putHeader(1, d.lastLBA(), 1<<40, 128, gptEntrySize, array)
		}, &PartitionTable{Type: "mbr", Partitions: 1}},
		{"array offset wraps around to negative", 512, func(d *gptDisk) {
			d.putHeader(1, d.lastLBA(), 1<<54, 0, gptEntrySize, nil) // 2^54 * 512 = 2^63
		}, &PartitionTable{Type: "mbr", Partitions: 1}},
		{"empty array", 512, func(d *gptDisk) { d.putHeader(1, d.lastLBA(), 2, 0, gptEntrySize, nil) }, &PartitionTable{Type: "gpt"}},
		{"256-byte entries are not read as 128-byte ones", 512, func(d *gptDisk) {
			d.putHeader(1, d.lastLBA(), 2, 64, 256, d.b[2*512:][:64*256])
		}, &PartitionTable{Type: "mbr", Partitions: 1}},
		{"insane backup header behind a broken primary", 512, func(d *gptDisk) {
			clear(d.b[512:1024])
			d.putHeader(d.lastLBA(), 1, 34, 1<<20, 1<<20, nil)
		}, &PartitionTable{Type: "gpt", Insane: "its backup header describes 1048576 entries of 1048576 bytes"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newGPTDisk(c.logical, size, gptPart{34, 1000}, gptPart{1001, 1001})
			c.damage(d)
			if got := d.read(); got == nil || *got != *c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// An entry counts when its type GUID is set and it spans at least one
// sector; last < first - 1 wraps around to a size that may count.
func TestGPTEntriesInUse(t *testing.T) {
	for _, c := range []struct {
		parts []gptPart
		want  int
	}{
		{nil, 0},
		{[]gptPart{{34, 34}}, 1},
		{[]gptPart{{34, 33}}, 0},              // zero sectors
		{[]gptPart{{34, 20}}, 0},              // wraps to 2^64 - 13 sectors: as bytes, negative
		{[]gptPart{{1 << 62, 0}}, 1},          // wraps to a positive size
		{[]gptPart{{34, 100}, {0, 0}}, 2},     // a type GUID with LBA 0 to 0 is one sector
		{[]gptPart{{34, 100}, {101, 200}}, 2}, //
	} {
		d := newGPTDisk(512, 1<<20, c.parts...)
		if got := d.read(); got == nil || got.Type != "gpt" || got.Partitions != c.want {
			t.Errorf("%v: got %+v, want %d partitions", c.parts, got, c.want)
		}
	}
	// An entry whose type GUID is zero is unused, whatever else it holds.
	d := newGPTDisk(512, 1<<20, gptPart{34, 100})
	array := bytes.Clone(d.b[2*512:][:128*gptEntrySize])
	clear(array[:16])
	d.putHeader(1, d.lastLBA(), 2, 128, gptEntrySize, array)
	if got := d.read(); got == nil || got.Type != "gpt" || got.Partitions != 0 {
		t.Errorf("zero type GUID: %+v", got)
	}
}

func TestReadMBR(t *testing.T) {
	mbr := func(entries ...[16]byte) []byte {
		b := make([]byte, 4096)
		for i, e := range entries {
			copy(b[mbrEntries+i*mbrEntrySize:], e[:])
		}
		b[mbrSignatureOff], b[mbrSignatureOff+1] = 0x55, 0xAA
		return b
	}
	entry := func(status, typ byte, sectors uint32) (e [16]byte) {
		e[0], e[4] = status, typ
		binary.LittleEndian.PutUint32(e[8:], 2048)
		binary.LittleEndian.PutUint32(e[12:], sectors)
		return e
	}
	for _, c := range []struct {
		name string
		disk []byte
		want *PartitionTable
	}{
		{"two partitions", mbr(entry(0x80, 0x83, 100), entry(0, 0x82, 10)), &PartitionTable{Type: "mbr", Partitions: 2}},
		{"signature only", mbr(), &PartitionTable{Type: "mbr"}},
		{"an entry without sectors is unused", mbr(entry(0, 0x83, 0), entry(0, 0x83, 1)), &PartitionTable{Type: "mbr", Partitions: 1}},
		{"status byte neither 0x00 nor 0x80: not an MBR", mbr(entry(0x80, 0x83, 100), entry(0x81, 0x83, 1)), nil},
		{"no signature", make([]byte, 4096), nil},
		{"shorter than a sector", mbr()[:511], nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := readPartitionTable(bytes.NewReader(c.disk), int64(len(c.disk)), 512)
			if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// A block device's size comes from seeking to its end: the backup header
// is found on an image file and a device alike.
func TestReadPartitionTableFindsTheBackupOnAFile(t *testing.T) {
	d := newGPTDisk(512, 1<<20, gptPart{34, 1000})
	clear(d.b[:1024])
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, d.b, 0o600); err != nil {
		t.Fatal(err)
	}
	if pt, err := ReadPartitionTable(img); err != nil || pt == nil || *pt != (PartitionTable{Type: "gpt", Partitions: 1}) {
		t.Errorf("%+v %v", pt, err)
	}
	if _, err := ReadPartitionTable(img + ".missing"); err == nil || !strings.Contains(err.Error(), "to read its partition table") {
		t.Errorf("missing file: %v", err)
	}
}
