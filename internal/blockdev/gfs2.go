package blockdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// On-disk GFS2 layout (gfs2_ondisk.h). Everything is big-endian.
const (
	gfs2Magic        = 0x01161970
	gfs2SuperOffset  = 128 * 512 // GFS2_SB_ADDR in 512-byte basic blocks
	gfs2TypeSB       = 1
	gfs2TypeDinode   = 4
	gfs2TypeIndirect = 5
	gfs2TypeLeaf     = 6
	gfs2TypeJData    = 7
	gfs2FormatSB     = 100

	gfs2MetaHeaderSize = 24
	gfs2DinodeSize     = 232
	gfs2LeafHeaderSize = 104
	gfs2DirentSize     = 40
	gfs2LockNameLen    = 64

	gfs2FlagExhash = 0x00000002
	gfs2ModeDir    = 0o040000
	gfs2ModeType   = 0o170000

	// A directory's hash table has 2^depth pointers; the kernel never goes
	// past 2^17 (GFS2_DIR_MAX_DEPTH). Anything deeper is corruption.
	gfs2MaxDirDepth = 17
	gfs2MaxHeight   = 10
)

// gfs2ReadBudget bounds the bytes one probe may read, so that a corrupt or
// hostile superblock cannot make the probe walk the whole disk.
const gfs2ReadBudget = 4 << 20

// GFS2Superblock is what the probe learns about a GFS2 file system.
type GFS2Superblock struct {
	BlockSize    int
	LockProtocol string // lock_dlm or lock_nolock
	LockTable    string // cluster:fs_name
	UUID         string // 8-4-4-4-12, lower case
	// Journals counts the journalN entries of the jindex directory under
	// the master directory: the journals the file system has.
	Journals int
}

// ErrNotFound means the signature of the file system is not on the device.
var ErrNotFound = errors.New("signature not found")

// CorruptError means a signature was found but the structure behind it
// cannot be read: the device holds something, just not a usable file system.
type CorruptError struct {
	FS     string
	Reason string
}

func (e *CorruptError) Error() string { return fmt.Sprintf("%s: %s", e.FS, e.Reason) }

func gfs2Corrupt(format string, args ...any) error {
	return &CorruptError{FS: "GFS2", Reason: fmt.Sprintf(format, args...)}
}

// ReadGFS2 reads the GFS2 superblock at byte 65536 of r (a device of size
// bytes) and counts the journals. It returns ErrNotFound when the magic
// number is not there, and a *CorruptError (with the superblock, when that
// much was readable) when the file system cannot be walked.
func ReadGFS2(r io.ReaderAt, size int64) (*GFS2Superblock, error) {
	head := make([]byte, 512)
	if err := readFull(r, head, gfs2SuperOffset); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("read GFS2 superblock: %w", err)
	}
	be := binary.BigEndian
	if be.Uint32(head[0:]) != gfs2Magic || be.Uint32(head[4:]) != gfs2TypeSB {
		return nil, ErrNotFound
	}
	if f := be.Uint32(head[16:]); f != gfs2FormatSB {
		return nil, gfs2Corrupt("superblock has metadata format %d, want %d", f, gfs2FormatSB)
	}
	bsize := be.Uint32(head[36:])
	shift := be.Uint32(head[40:])
	if bsize < 512 || bsize > 65536 || bsize&(bsize-1) != 0 || shift > 16 || 1<<shift != bsize {
		return nil, gfs2Corrupt("superblock has block size %d and shift %d", bsize, shift)
	}
	sb := &GFS2Superblock{
		BlockSize:    int(bsize),
		LockProtocol: cString(head[96 : 96+gfs2LockNameLen]),
		LockTable:    cString(head[160 : 160+gfs2LockNameLen]),
		UUID:         formatUUID(head[256:272]),
	}
	masterAddr := be.Uint64(head[56:])
	w := &gfs2Walker{r: r, size: size, bsize: int(bsize), budget: gfs2ReadBudget}
	n, err := w.countJournals(masterAddr)
	if err != nil {
		return sb, err
	}
	sb.Journals = n
	return sb, nil
}

// isJournalName reports whether a jindex entry names a journal:
// "journal" and one or more ASCII digits.
func isJournalName(name string) bool {
	digits, ok := strings.CutPrefix(name, "journal")
	if !ok || digits == "" {
		return false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// gfs2Walker reads metadata blocks within a budget.
type gfs2Walker struct {
	r      io.ReaderAt
	size   int64
	bsize  int
	budget int
}

func (w *gfs2Walker) countJournals(masterAddr uint64) (int, error) {
	master, err := w.dinode(masterAddr, "master directory")
	if err != nil {
		return 0, err
	}
	var jindexAddr uint64
	err = w.eachDirent(master, "master directory", func(name string, addr uint64) bool {
		if name == "jindex" {
			jindexAddr = addr
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if jindexAddr == 0 {
		return 0, gfs2Corrupt("master directory has no jindex entry")
	}
	jindex, err := w.dinode(jindexAddr, "jindex")
	if err != nil {
		return 0, err
	}
	count := 0
	err = w.eachDirent(jindex, "jindex", func(name string, _ uint64) bool {
		if isJournalName(name) {
			count++
		}
		return true
	})
	return count, err
}

// block reads file-system block addr and checks its metadata header type.
func (w *gfs2Walker) block(addr uint64, typ uint32, what string) ([]byte, error) {
	if addr == 0 || addr >= uint64(w.size)/uint64(w.bsize) {
		return nil, gfs2Corrupt("%s points to block %d, outside the device", what, addr)
	}
	if w.budget < w.bsize {
		return nil, gfs2Corrupt("gave up reading %s: too many blocks (a loop in the metadata?)", what)
	}
	w.budget -= w.bsize
	b := make([]byte, w.bsize)
	if err := readFull(w.r, b, int64(addr)*int64(w.bsize)); err != nil {
		return nil, fmt.Errorf("read GFS2 %s (block %d): %w", what, addr, err)
	}
	be := binary.BigEndian
	if be.Uint32(b[0:]) != gfs2Magic || be.Uint32(b[4:]) != typ {
		return nil, gfs2Corrupt("block %d (%s) is not GFS2 metadata of type %d", addr, what, typ)
	}
	return b, nil
}

type gfs2Dinode struct {
	addr    uint64
	block   []byte
	size    uint64
	flags   uint32
	height  int
	depth   int
	entries uint32
}

func (w *gfs2Walker) dinode(addr uint64, what string) (*gfs2Dinode, error) {
	b, err := w.block(addr, gfs2TypeDinode, what)
	if err != nil {
		return nil, err
	}
	be := binary.BigEndian
	d := &gfs2Dinode{
		addr:    addr,
		block:   b,
		size:    be.Uint64(b[56:]),
		flags:   be.Uint32(b[128:]),
		height:  int(be.Uint16(b[138:])),
		depth:   int(be.Uint16(b[146:])),
		entries: be.Uint32(b[148:]),
	}
	if got := be.Uint64(b[32:]); got != addr {
		return nil, gfs2Corrupt("%s dinode at block %d says it is at block %d", what, addr, got)
	}
	if be.Uint32(b[40:])&gfs2ModeType != gfs2ModeDir {
		return nil, gfs2Corrupt("%s (block %d) is not a directory", what, addr)
	}
	if d.height > gfs2MaxHeight {
		return nil, gfs2Corrupt("%s has metadata height %d", what, d.height)
	}
	return d, nil
}

// eachDirent calls f for every live entry of directory d until f returns false.
func (w *gfs2Walker) eachDirent(d *gfs2Dinode, what string, f func(name string, addr uint64) bool) error {
	if d.flags&gfs2FlagExhash == 0 {
		if d.height != 0 {
			return gfs2Corrupt("%s is a linear directory that is not stuffed", what)
		}
		_, err := direntsIn(d.block, gfs2DinodeSize, what, f)
		return err
	}
	if d.depth > gfs2MaxDirDepth {
		return gfs2Corrupt("%s hash table depth %d is too large", what, d.depth)
	}
	if d.size != 8<<d.depth {
		return gfs2Corrupt("%s hash table is %d bytes for depth %d", what, d.size, d.depth)
	}
	seen := map[uint64]bool{}
	stop := false
	err := w.eachHashPointer(d, what, func(leaf uint64) error {
		for leaf != 0 && !seen[leaf] && !stop {
			seen[leaf] = true
			b, err := w.block(leaf, gfs2TypeLeaf, what+" leaf")
			if err != nil {
				return err
			}
			more, err := direntsIn(b, gfs2LeafHeaderSize, what, f)
			if err != nil {
				return err
			}
			stop = !more
			leaf = binary.BigEndian.Uint64(b[32:]) // lf_next: chained overflow leaf
		}
		if stop {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")

// eachHashPointer calls f for each leaf pointer in d's hash table. A stuffed
// table sits in the dinode block; otherwise it is file data in journaled-data
// blocks (a 24-byte header each) reached through the dinode's metadata tree.
func (w *gfs2Walker) eachHashPointer(d *gfs2Dinode, what string, f func(uint64) error) error {
	n := d.size / 8
	if d.height == 0 {
		if gfs2DinodeSize+d.size > uint64(len(d.block)) {
			return gfs2Corrupt("%s stuffed hash table of %d bytes does not fit in a block", what, d.size)
		}
		for i := uint64(0); i < n; i++ {
			if err := f(binary.BigEndian.Uint64(d.block[gfs2DinodeSize+8*i:])); err != nil {
				return err
			}
		}
		return nil
	}
	dataPerBlock := uint64(w.bsize - gfs2MetaHeaderSize)
	var cur []byte
	curIndex := ^uint64(0)
	for i := uint64(0); i < n; i++ {
		off := i * 8
		lblock, within := off/dataPerBlock, off%dataPerBlock
		if within+8 > dataPerBlock {
			return gfs2Corrupt("%s hash table pointer straddles a block", what)
		}
		if lblock != curIndex {
			addr, err := w.mapBlock(d, lblock, what)
			if err != nil {
				return err
			}
			cur, err = w.block(addr, gfs2TypeJData, what+" hash table")
			if err != nil {
				return err
			}
			curIndex = lblock
		}
		if err := f(binary.BigEndian.Uint64(cur[gfs2MetaHeaderSize+within:])); err != nil {
			return err
		}
	}
	return nil
}

// mapBlock finds the disk block holding logical block lblock of d's data by
// walking the metadata tree (as the kernel's find_metapath does).
func (w *gfs2Walker) mapBlock(d *gfs2Dinode, lblock uint64, what string) (uint64, error) {
	inptrs := uint64(w.bsize-gfs2MetaHeaderSize) / 8
	diptrs := uint64(w.bsize-gfs2DinodeSize) / 8
	path := make([]uint64, d.height)
	rest := lblock
	for i := d.height - 1; i >= 0; i-- {
		path[i] = rest % inptrs
		rest /= inptrs
	}
	if rest != 0 || path[0] >= diptrs {
		return 0, gfs2Corrupt("%s data block %d is beyond its metadata tree of height %d", what, lblock, d.height)
	}
	b, base := d.block, gfs2DinodeSize
	for level := 0; ; level++ {
		addr := binary.BigEndian.Uint64(b[base+8*int(path[level]):])
		if addr == 0 {
			return 0, gfs2Corrupt("%s has a hole in its hash table", what)
		}
		if level == d.height-1 {
			return addr, nil
		}
		var err error
		b, err = w.block(addr, gfs2TypeIndirect, what+" indirect block")
		if err != nil {
			return 0, err
		}
		base = gfs2MetaHeaderSize
	}
}

// direntsIn walks the directory entries of one block from offset start. It
// returns false when f asked to stop.
func direntsIn(b []byte, start int, what string, f func(name string, addr uint64) bool) (bool, error) {
	be := binary.BigEndian
	for off := start; off < len(b); {
		if off+gfs2DirentSize > len(b) {
			return true, gfs2Corrupt("%s entry at offset %d runs past the block", what, off)
		}
		addr := be.Uint64(b[off+8:])
		recLen := int(be.Uint16(b[off+20:]))
		nameLen := int(be.Uint16(b[off+22:]))
		if recLen < gfs2DirentSize || recLen%8 != 0 || off+recLen > len(b) || nameLen > recLen-gfs2DirentSize {
			return true, gfs2Corrupt("%s entry at offset %d has record length %d and name length %d", what, off, recLen, nameLen)
		}
		// An entry with no inode is the unused space at a block's start.
		if addr != 0 && nameLen > 0 {
			if !f(string(b[off+gfs2DirentSize:off+gfs2DirentSize+nameLen]), addr) {
				return false, nil
			}
		}
		off += recLen
	}
	return true, nil
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// cString returns the bytes up to the first NUL.
func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func formatUUID(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
