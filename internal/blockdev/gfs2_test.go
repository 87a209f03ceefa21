package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var be = binary.BigEndian

// tunegfs2Fields parses `tunegfs2 -l`.
func tunegfs2Fields(t *testing.T, path string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	for _, line := range strings.Split(tool(t, "tunegfs2", "-l", path), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return fields
}

var gfs2EditJournal = regexp.MustCompile(`(?m)\sFile\s+(journal[0-9]+)$`)

// gfs2EditJindex returns the distinct journal names `gfs2_edit -p jindex` lists and
// whether the directory is hashed (di_flags has GFS2_DIF_EXHASH) and unstuffed.
func gfs2EditJindex(t *testing.T, path string) (names []string, hashed bool, height int) {
	t.Helper()
	// gfs2_edit wants an absolute path; t.TempDir gives one.
	out := tool(t, "gfs2_edit", "-p", "jindex", path)
	// gfs2_edit may print a leaf once per hash-table pointer to it
	seen := map[string]bool{}
	for _, m := range gfs2EditJournal.FindAllStringSubmatch(out, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			names = append(names, m[1])
		}
	}
	if m := regexp.MustCompile(`di_flags\s+0x([0-9a-f]+)`).FindStringSubmatch(out); m != nil {
		flags, _ := strconv.ParseUint(m[1], 16, 32)
		hashed = flags&gfs2FlagExhash != 0
	}
	if m := regexp.MustCompile(`di_height\s+([0-9]+)`).FindStringSubmatch(out); m != nil {
		height, _ = strconv.Atoi(m[1])
	}
	return names, hashed, height
}

func TestReadGFS2MatchesTools(t *testing.T) {
	requireTools(t, "mkfs.gfs2", "tunegfs2", "gfs2_edit")
	cases := []struct {
		name      string
		size      int64
		args      []string
		journals  int
		hashed    bool
		height    int
		protocol  string
		lockTable string
	}{
		{"dlm 3 journals", 256 << 20, []string{"-p", "lock_dlm", "-t", "alpha:data", "-j", "3"}, 3, false, 0, "lock_dlm", "alpha:data"},
		{"nolock 1K blocks", 128 << 20, []string{"-p", "lock_nolock", "-b", "1024", "-j", "2", "-J", "8"}, 2, false, 0, "lock_nolock", ""},
		// 100 journals do not fit in the jindex dinode: it becomes a hashed
		// directory whose hash table is stuffed in the dinode...
		{"100 journals hashed", 2 << 30, []string{"-p", "lock_dlm", "-t", "big-cluster:fs_100", "-j", "100", "-J", "8"}, 100, true, 0, "lock_dlm", "big-cluster:fs_100"},
		// ...and with 512-byte blocks the hash table itself moves out to
		// journaled-data blocks behind a metadata tree.
		{"100 journals hashed 512-byte blocks", 2 << 30, []string{"-p", "lock_nolock", "-b", "512", "-j", "100", "-J", "8"}, 100, true, 1, "lock_nolock", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := sparseImage(t, c.size)
			tool(t, append(append([]string{"mkfs.gfs2", "-O"}, c.args...), img)...)

			dev, err := Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			sb, err := ReadGFS2(dev, dev.Size())
			if err != nil {
				t.Fatalf("ReadGFS2: %v", err)
			}

			want := tunegfs2Fields(t, img)
			if sb.LockTable != want["Lock table"] || sb.LockTable != c.lockTable {
				t.Errorf("lock table %q, tunegfs2 says %q", sb.LockTable, want["Lock table"])
			}
			if sb.LockProtocol != want["Lock protocol"] || sb.LockProtocol != c.protocol {
				t.Errorf("lock protocol %q, tunegfs2 says %q", sb.LockProtocol, want["Lock protocol"])
			}
			if strconv.Itoa(sb.BlockSize) != want["Block size"] {
				t.Errorf("block size %d, tunegfs2 says %s", sb.BlockSize, want["Block size"])
			}
			if sb.UUID != want["File system UUID"] {
				t.Errorf("UUID %s, tunegfs2 says %s", sb.UUID, want["File system UUID"])
			}

			names, hashed, height := gfs2EditJindex(t, img)
			if sb.Journals != len(names) || sb.Journals != c.journals {
				t.Errorf("journals %d, gfs2_edit lists %d, mkfs made %d", sb.Journals, len(names), c.journals)
			}
			if hashed != c.hashed || height != c.height {
				t.Errorf("test premise: jindex hashed=%v height=%d, want hashed=%v height=%d", hashed, height, c.hashed, c.height)
			}
		})
	}
}

// gfs2Builder lays out a small synthetic GFS2 file system, enough for the
// superblock reader: superblock, master directory, jindex. Tests use it for
// the shapes and damage real tools do not produce on demand, and the fuzz
// target for compact seeds.
type gfs2Builder struct {
	bsize  int
	blocks map[uint64][]byte
	next   uint64
	sb     []byte
}

func newGFS2Builder(bsize int, lockProto, lockTable string) *gfs2Builder {
	b := &gfs2Builder{bsize: bsize, blocks: map[uint64][]byte{}}
	b.next = gfs2SuperOffset/uint64(bsize) + 1
	sb := make([]byte, bsize)
	b.header(sb, gfs2TypeSB, gfs2FormatSB)
	be.PutUint32(sb[24:], 1802)
	be.PutUint32(sb[28:], 1900)
	be.PutUint32(sb[36:], uint32(bsize))
	shift := 0
	for 1<<shift < bsize {
		shift++
	}
	be.PutUint32(sb[40:], uint32(shift))
	copy(sb[96:], lockProto)
	copy(sb[160:], lockTable)
	copy(sb[256:], []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	b.sb = sb
	b.blocks[gfs2SuperOffset/uint64(bsize)] = sb
	return b
}

func (b *gfs2Builder) header(buf []byte, typ, format uint32) {
	be.PutUint32(buf[0:], gfs2Magic)
	be.PutUint32(buf[4:], typ)
	be.PutUint32(buf[16:], format)
}

func (b *gfs2Builder) alloc() (uint64, []byte) {
	addr := b.next
	b.next++
	buf := make([]byte, b.bsize)
	b.blocks[addr] = buf
	return addr, buf
}

type dirent struct {
	name string
	addr uint64
}

// putDirents writes entries from offset start, the last one stretched to
// the end of the block, as GFS2 does.
func (b *gfs2Builder) putDirents(buf []byte, start int, entries []dirent) {
	off := start
	for i, e := range entries {
		rec := (gfs2DirentSize + len(e.name) + 7) &^ 7
		if i == len(entries)-1 {
			rec = len(buf) - off
		}
		be.PutUint64(buf[off:], e.addr)   // no_formal_ino
		be.PutUint64(buf[off+8:], e.addr) // no_addr
		be.PutUint16(buf[off+20:], uint16(rec))
		be.PutUint16(buf[off+22:], uint16(len(e.name)))
		copy(buf[off+gfs2DirentSize:], e.name)
		off += rec
	}
}

func (b *gfs2Builder) dinode(dir bool) (uint64, []byte) {
	addr, buf := b.alloc()
	b.header(buf, gfs2TypeDinode, 400)
	be.PutUint64(buf[24:], addr)
	be.PutUint64(buf[32:], addr)
	mode := uint32(0o100600)
	if dir {
		mode = gfs2ModeDir | 0o700
	}
	be.PutUint32(buf[40:], mode)
	return addr, buf
}

func journalEntries(n int) []dirent {
	entries := []dirent{{".", 1}, {"..", 1}}
	for i := 0; i < n; i++ {
		entries = append(entries, dirent{fmt.Sprintf("journal%d", i), uint64(1000 + i)})
	}
	return entries
}

// withMaster adds a master directory holding a jindex entry for jindex.
func (b *gfs2Builder) withMaster(jindex uint64) {
	addr, buf := b.dinode(true)
	b.putDirents(buf, gfs2DinodeSize, []dirent{{".", addr}, {"..", addr}, {"jindex", jindex}, {"per_node", 7}})
	be.PutUint64(b.sb[48:], addr)
	be.PutUint64(b.sb[56:], addr)
}

// stuffedJindex makes a linear jindex with n journals in the dinode block.
func (b *gfs2Builder) stuffedJindex(n int) uint64 {
	addr, buf := b.dinode(true)
	b.putDirents(buf, gfs2DinodeSize, journalEntries(n))
	return addr
}

// leaves writes entries into leaf blocks of perLeaf entries each, chained
// by lf_next when chain is true, and returns the first leaf of each chain.
func (b *gfs2Builder) leaves(entries []dirent, perLeaf int, chain bool) []uint64 {
	var heads []uint64
	var prev []byte
	for i := 0; i < len(entries); i += perLeaf {
		addr, buf := b.alloc()
		b.header(buf, gfs2TypeLeaf, 600)
		end := min(i+perLeaf, len(entries))
		b.putDirents(buf, gfs2LeafHeaderSize, entries[i:end])
		if chain && prev != nil {
			be.PutUint64(prev[32:], addr)
		} else {
			heads = append(heads, addr)
		}
		prev = buf
	}
	return heads
}

// hashedJindex makes an exhash jindex of depth with leaves spread over the
// hash table. height 0 stuffs the table in the dinode; height 1 puts it in
// journaled-data blocks.
func (b *gfs2Builder) hashedJindex(n, depth, height int, chain bool) uint64 {
	addr, buf := b.dinode(true)
	be.PutUint32(buf[128:], gfs2FlagExhash)
	be.PutUint16(buf[146:], uint16(depth))
	be.PutUint64(buf[56:], 8<<depth)
	be.PutUint32(buf[148:], uint32(n+2))
	heads := b.leaves(journalEntries(n), 3, chain)
	table := make([]uint64, 1<<depth)
	for i := range table {
		table[i] = heads[i*len(heads)/len(table)]
	}
	switch height {
	case 0:
		for i, p := range table {
			be.PutUint64(buf[gfs2DinodeSize+8*i:], p)
		}
	case 1:
		be.PutUint16(buf[138:], 1)
		per := (b.bsize - gfs2MetaHeaderSize) / 8
		for blk := 0; blk*per < len(table); blk++ {
			jd, jbuf := b.alloc()
			b.header(jbuf, gfs2TypeJData, 700)
			for i := 0; i < per && blk*per+i < len(table); i++ {
				be.PutUint64(jbuf[gfs2MetaHeaderSize+8*i:], table[blk*per+i])
			}
			be.PutUint64(buf[gfs2DinodeSize+8*blk:], jd)
		}
	}
	return addr
}

// image returns the whole image and the part from the superblock on (the
// fuzz target's input).
func (b *gfs2Builder) image() (whole []byte, fromSuper []byte) {
	whole = make([]byte, int(b.next)*b.bsize)
	for addr, buf := range b.blocks {
		copy(whole[int(addr)*b.bsize:], buf)
	}
	return whole, whole[gfs2SuperOffset:]
}

func readBuilt(t *testing.T, b *gfs2Builder) (*GFS2Superblock, error) {
	t.Helper()
	whole, _ := b.image()
	return ReadGFS2(bytes.NewReader(whole), int64(len(whole)))
}

func TestReadGFS2Synthetic(t *testing.T) {
	cases := []struct {
		name  string
		build func() *gfs2Builder
		want  int
	}{
		{"stuffed", func() *gfs2Builder {
			b := newGFS2Builder(4096, "lock_dlm", "c:f")
			b.withMaster(b.stuffedJindex(5))
			return b
		}, 5},
		{"hashed, stuffed table", func() *gfs2Builder {
			b := newGFS2Builder(4096, "lock_dlm", "c:f")
			b.withMaster(b.hashedJindex(40, 4, 0, false))
			return b
		}, 40},
		{"hashed, chained leaves", func() *gfs2Builder {
			b := newGFS2Builder(1024, "lock_dlm", "c:f")
			b.withMaster(b.hashedJindex(20, 2, 0, true))
			return b
		}, 20},
		{"hashed, table in data blocks", func() *gfs2Builder {
			b := newGFS2Builder(512, "lock_nolock", "")
			b.withMaster(b.hashedJindex(30, 7, 1, false))
			return b
		}, 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb, err := readBuilt(t, c.build())
			if err != nil {
				t.Fatal(err)
			}
			if sb.Journals != c.want {
				t.Errorf("journals = %d, want %d", sb.Journals, c.want)
			}
			if sb.UUID != "deadbeef-0102-0304-0506-0708090a0b0c" {
				t.Errorf("uuid = %s", sb.UUID)
			}
		})
	}
}

func TestReadGFS2NotFound(t *testing.T) {
	for name, img := range map[string][]byte{
		"short":       make([]byte, 1000),
		"zeros":       make([]byte, 1<<20),
		"other magic": append(make([]byte, gfs2SuperOffset), 0x12, 0x34, 0x56, 0x78),
	} {
		if _, err := ReadGFS2(bytes.NewReader(img), int64(len(img))); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: want ErrNotFound, got %v", name, err)
		}
	}
}

func TestReadGFS2Damaged(t *testing.T) {
	cases := []struct {
		name   string
		damage func(b *gfs2Builder)
		want   string
	}{
		{"bad block size", func(b *gfs2Builder) { be.PutUint32(b.sb[36:], 3000) }, "block size"},
		{"format", func(b *gfs2Builder) { be.PutUint32(b.sb[16:], 7) }, "metadata format"},
		{"master outside device", func(b *gfs2Builder) { be.PutUint64(b.sb[56:], 1<<40) }, "outside the device"},
		{"master not a dinode", func(b *gfs2Builder) { be.PutUint32(b.blocks[be.Uint64(b.sb[56:])][4:], 9) }, "not GFS2 metadata"},
		{"no jindex", func(b *gfs2Builder) {
			m := b.blocks[be.Uint64(b.sb[56:])]
			copy(m[gfs2DinodeSize+2*48+gfs2DirentSize:], "jindeX")
		}, "no jindex"},
		{"zero record length", func(b *gfs2Builder) {
			m := b.blocks[be.Uint64(b.sb[56:])]
			be.PutUint16(m[gfs2DinodeSize+20:], 0)
		}, "record length"},
		{"leaf cycle", func(b *gfs2Builder) {
			// point the last leaf of the chain back at the first
			var leaves []uint64
			for a, buf := range b.blocks {
				if be.Uint32(buf[4:]) == gfs2TypeLeaf {
					leaves = append(leaves, a)
				}
			}
			for _, a := range leaves {
				if be.Uint64(b.blocks[a][32:]) == 0 {
					be.PutUint64(b.blocks[a][32:], leaves[0])
				}
			}
		}, ""},
		{"hash table size", func(b *gfs2Builder) {
			j := b.blocks[be.Uint64(b.blocks[be.Uint64(b.sb[56:])][gfs2DinodeSize+2*48+8:])]
			be.PutUint64(j[56:], 12345)
		}, "hash table is 12345 bytes"},
		{"hash depth", func(b *gfs2Builder) {
			j := b.blocks[be.Uint64(b.blocks[be.Uint64(b.sb[56:])][gfs2DinodeSize+2*48+8:])]
			be.PutUint16(j[146:], 40)
		}, "depth 40"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newGFS2Builder(1024, "lock_dlm", "c:f")
			b.withMaster(b.hashedJindex(12, 2, 0, true))
			c.damage(b)
			sb, err := readBuilt(t, b)
			if c.want == "" {
				// a cycle must end, counting every entry once
				if err != nil || sb.Journals != 12 {
					t.Errorf("got %+v, %v", sb, err)
				}
				return
			}
			var corrupt *CorruptError
			if !errors.As(err, &corrupt) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want a CorruptError about %q, got %v", c.want, err)
			}
		})
	}
}

func TestReadGFS2DamagedKeepsSuperblock(t *testing.T) {
	b := newGFS2Builder(4096, "lock_dlm", "keep:me")
	b.withMaster(12345678)
	sb, err := readBuilt(t, b)
	var corrupt *CorruptError
	if !errors.As(err, &corrupt) || sb == nil || sb.LockTable != "keep:me" {
		t.Errorf("a readable superblock must be returned with the error: %+v %v", sb, err)
	}
}

// isJournalName accepts exactly what `^journal[0-9]+$` matches.
func TestIsJournalName(t *testing.T) {
	for name, want := range map[string]bool{
		"journal0": true, "journal12": true, "journal007": true,
		"journal": false, "journal1a": false, "journal 1": false, "journal1\n": false,
		"Journal1": false, "xjournal1": false, "journal١": false, "": false, "statfs_change0": false,
	} {
		if got := isJournalName(name); got != want {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
}
