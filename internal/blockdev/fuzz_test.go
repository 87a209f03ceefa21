package blockdev

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fuzzImage is an image whose bytes from offset base on are data and whose
// bytes before are zero. Reads are counted, to prove the readers stay within
// their budget whatever the superblock says.
type fuzzImage struct {
	base int64
	data []byte
	read int64
}

func (f *fuzzImage) size() int64 { return f.base + int64(len(f.data)) }

func (f *fuzzImage) ReadAt(p []byte, off int64) (int, error) {
	f.read += int64(len(p))
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		switch {
		case pos >= f.size():
			return n, io.EOF
		case pos < f.base:
			p[n] = 0
			n++
		default:
			n += copy(p[n:], f.data[pos-f.base:])
		}
	}
	return n, nil
}

// realHead returns the first n bytes of an image made by a real tool, or nil
// when the tool is not installed.
func realHead(f *testing.F, n int64, size int64, argv ...string) []byte {
	f.Helper()
	if _, err := os.Stat("/usr/sbin/" + argv[0]); err != nil {
		return nil
	}
	img := filepath.Join(f.TempDir(), "seed.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil || os.Truncate(img, size) != nil {
		return nil
	}
	tool(f, append(argv, img)...)
	fh, err := os.Open(img)
	if err != nil {
		return nil
	}
	defer fh.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(fh, buf); err != nil {
		return nil
	}
	return buf
}

func FuzzReadGFS2(f *testing.F) {
	seed := func(b *gfs2Builder) {
		_, data := b.image()
		f.Add(data)
	}
	b := newGFS2Builder(512, "lock_dlm", "c:f")
	b.withMaster(b.stuffedJindex(3))
	seed(b)
	b = newGFS2Builder(512, "lock_dlm", "c:f")
	b.withMaster(b.hashedJindex(20, 3, 0, true))
	seed(b)
	b = newGFS2Builder(512, "lock_nolock", "")
	b.withMaster(b.hashedJindex(30, 7, 1, false))
	seed(b)
	b = newGFS2Builder(1024, "lock_dlm", "loop:me")
	b.withMaster(b.hashedJindex(12, 2, 0, true))
	seed(b)
	f.Add([]byte{0x01, 0x16, 0x19, 0x70, 0, 0, 0, 1})

	f.Fuzz(func(t *testing.T, data []byte) {
		img := &fuzzImage{base: gfs2SuperOffset, data: data}
		sb, err := ReadGFS2(img, img.size())
		if err == nil && (sb == nil || sb.Journals < 0) {
			t.Fatalf("no error but superblock %+v", sb)
		}
		var corrupt *CorruptError
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.As(err, &corrupt) {
			t.Fatalf("in-memory image: unexpected error kind %T: %v", err, err)
		}
		// The superblock read plus the walk budget, whatever the input.
		if img.read > 512+gfs2ReadBudget {
			t.Fatalf("read %d bytes, budget is %d", img.read, gfs2ReadBudget)
		}
	})
}

func FuzzReadOCFS2(f *testing.F) {
	for _, bs := range ocfs2BlockSizes {
		f.Add(ocfs2Image(bs, 4, "label", "pcmk", "cluster"))
	}
	if head := realHead(f, 16<<10, 64<<20, "mkfs.ocfs2", "-q", "-N", "2", "-L", "seed", "--cluster-stack=o2cb", "--cluster-name=seed"); head != nil {
		f.Add(head)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img := &fuzzImage{data: data}
		sb, err := ReadOCFS2(img, img.size())
		var corrupt *CorruptError
		switch {
		case err == nil:
			if sb.MaxSlots < 1 || sb.MaxSlots > ocfs2MaxSlots || sb.BlockSize < 512 || len(sb.Label) >= ocfs2LabelLen+1 {
				t.Fatalf("accepted an impossible superblock: %+v", sb)
			}
		case errors.Is(err, ErrNotFound), errors.As(err, &corrupt):
		default:
			t.Fatalf("unexpected error kind %T: %v", err, err)
		}
		if img.read > int64(len(ocfs2BlockSizes))*512 {
			t.Fatalf("read %d bytes", img.read)
		}
	})
}

// FuzzReadPartitionTable: whatever the disk holds, the reader neither
// panics nor reads (or allocates) more than two bounded partition arrays,
// and what it reports is possible.
func FuzzReadPartitionTable(f *testing.F) {
	for _, logical := range []int{512, 4096} {
		d := newGPTDisk(logical, 64*int64(logical), gptPart{34, 40}, gptPart{41, 41})
		f.Add(d.b, logical == 4096)
		clear(d.b[logical : 2*logical])
		f.Add(d.b, logical == 4096)
	}
	mbr := make([]byte, 512)
	mbr[mbrEntries+12], mbr[mbrSignatureOff], mbr[mbrSignatureOff+1] = 1, 0x55, 0xAA
	f.Add(mbr, false)
	f.Fuzz(func(t *testing.T, data []byte, big bool) {
		logical := 512
		if big {
			logical = 4096
		}
		img := &fuzzImage{data: data}
		pt := readPartitionTable(img, img.size(), logical)
		budget := int64(gptHeaderSize + 2*logical + logical + 2*maxGPTArray + mbrSize)
		if img.read > budget {
			t.Fatalf("read %d bytes, budget %d", img.read, budget)
		}
		switch {
		case pt == nil:
		case pt.Type == "mbr" && pt.Partitions <= 4 && pt.Insane == "":
		case pt.Type == "gpt" && pt.Partitions <= maxGPTArray/gptEntrySize && (pt.Insane == "" || pt.Partitions == 0):
		default:
			t.Fatalf("impossible table %+v", pt)
		}
	})
}
