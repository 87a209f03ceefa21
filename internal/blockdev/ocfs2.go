package blockdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// On-disk OCFS2 layout (ocfs2_fs.h). Everything is little-endian. The
// superblock is an inode in block 2; its fields start at id2, byte 0xC0.
const (
	ocfs2Signature     = "OCFSV2"
	ocfs2SuperBlockNo  = 2
	ocfs2SuperOffset   = 0xC0
	ocfs2MaxSlots      = 255
	ocfs2LabelLen      = 64
	ocfs2StackLen      = 4
	ocfs2ClusterLen    = 16
	ocfs2IncompatLocal = 0x0008 // OCFS2_FEATURE_INCOMPAT_LOCAL_MOUNT
	ocfs2IncompatUser  = 0x0080 // OCFS2_FEATURE_INCOMPAT_USERSPACE_STACK
	ocfs2IncompatInfo  = 0x4000 // OCFS2_FEATURE_INCOMPAT_CLUSTERINFO
)

// ocfs2BlockSizes are the block sizes to probe, as mounted.ocfs2 does: the
// superblock is block 2, so it sits at 1, 2, 4 or 8 KiB.
var ocfs2BlockSizes = []int{512, 1024, 2048, 4096}

// OCFS2Superblock is what the probe learns about an OCFS2 file system.
type OCFS2Superblock struct {
	BlockSize   int
	ClusterSize int
	MaxSlots    int
	Label       string
	UUID        string // 8-4-4-4-12, lower case
	// ClusterStack is o2cb or pcmk; ClusterName is the cluster it belongs
	// to. A classic o2cb volume made without cluster information has stack
	// o2cb and no name; a local-mount volume has neither.
	ClusterStack string
	ClusterName  string
	LocalMount   bool
}

// ReadOCFS2 probes r (of size bytes) for an OCFS2 superblock. It returns
// ErrNotFound when no block size shows the signature, and a *CorruptError
// when the signature is there but the superblock is inconsistent.
func ReadOCFS2(r io.ReaderAt, size int64) (*OCFS2Superblock, error) {
	var problems []string
	for _, bs := range ocfs2BlockSizes {
		off := int64(bs) * ocfs2SuperBlockNo
		b := make([]byte, 512)
		if err := readFull(r, b, off); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return nil, fmt.Errorf("read OCFS2 superblock at %d: %w", off, err)
		}
		if string(b[:len(ocfs2Signature)]) != ocfs2Signature {
			continue
		}
		sb, problem := parseOCFS2(b, bs)
		if problem == "" {
			return sb, nil
		}
		problems = append(problems, fmt.Sprintf("at byte %d: %s", off, problem))
	}
	if len(problems) > 0 {
		return nil, &CorruptError{FS: "OCFS2", Reason: "signature found but the superblock is invalid " + strings.Join(problems, "; ")}
	}
	return nil, ErrNotFound
}

func parseOCFS2(b []byte, bs int) (*OCFS2Superblock, string) {
	le := binary.LittleEndian
	if blkno := le.Uint64(b[0x50:]); blkno != ocfs2SuperBlockNo {
		return nil, fmt.Sprintf("inode says it is block %d", blkno)
	}
	s := b[ocfs2SuperOffset:]
	bbits := le.Uint32(s[0x38:])
	cbits := le.Uint32(s[0x3C:])
	if bbits > 16 || 1<<bbits != bs {
		return nil, fmt.Sprintf("block size bits %d for a %d-byte block", bbits, bs)
	}
	if cbits < 12 || cbits > 20 {
		return nil, fmt.Sprintf("cluster size bits %d", cbits)
	}
	slots := int(le.Uint16(s[0x40:]))
	if slots < 1 || slots > ocfs2MaxSlots {
		return nil, fmt.Sprintf("%d node slots", slots)
	}
	incompat := le.Uint32(s[0x20:])
	sb := &OCFS2Superblock{
		BlockSize:   bs,
		ClusterSize: 1 << cbits,
		MaxSlots:    slots,
		Label:       cString(s[0x50 : 0x50+ocfs2LabelLen]),
		UUID:        formatUUID(s[0x90:0xA0]),
	}
	switch {
	case incompat&ocfs2IncompatLocal != 0:
		sb.LocalMount = true
	case incompat&(ocfs2IncompatUser|ocfs2IncompatInfo) != 0:
		sb.ClusterStack = cString(s[0xA0 : 0xA0+ocfs2StackLen])
		sb.ClusterName = cString(s[0xA8 : 0xA8+ocfs2ClusterLen])
	default:
		sb.ClusterStack = "o2cb"
	}
	return sb, ""
}
