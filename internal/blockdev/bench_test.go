package blockdev

import (
	"bytes"
	"testing"
)

// BenchmarkReadGFS2HashedJindex is the probe's walk over 100 journals in a
// hashed jindex whose hash table sits behind a metadata tree (512-byte
// blocks), from memory: the cost of the reader itself, without the disk.
func BenchmarkReadGFS2HashedJindex(b *testing.B) {
	g := newGFS2Builder(512, "lock_dlm", "bench:fs")
	g.withMaster(g.hashedJindex(100, 7, 1, true))
	img, _ := g.image()
	r := bytes.NewReader(img)
	b.ReportAllocs()
	for b.Loop() {
		sb, err := ReadGFS2(r, int64(len(img)))
		if err != nil || sb.Journals != 100 {
			b.Fatalf("%+v %v", sb, err)
		}
	}
}

func BenchmarkReadOCFS2(b *testing.B) {
	img := ocfs2Image(4096, 16, "bench", "o2cb", "bench")
	r := bytes.NewReader(img)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadOCFS2(r, int64(len(img))); err != nil {
			b.Fatal(err)
		}
	}
}
