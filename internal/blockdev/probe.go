package blockdev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
	"golang.org/x/sys/unix"
)

// State is everything the probe found on a device. It is plain data: the
// modules decide on it without further I/O.
type State struct {
	Device      string
	Size        int64
	BlockDevice bool

	GFS2      *GFS2Superblock
	GFS2Error string // the GFS2 magic is there but the file system cannot be walked
	OCFS2     *OCFS2Superblock
	// OCFS2Error: the OCFS2 signature is there but the superblock is invalid.
	OCFS2Error string

	Signature      *Signature      // from blkid; nil when it found nothing
	PartitionTable *PartitionTable // GPT or MBR; nil when none
	// Data: none of the above, but the device is not blank where data
	// starts or ends (FindData).
	Data  *UnknownData
	Usage Usage
}

// Empty reports whether nothing at all was found on the device: no file
// system, no partition table, no other signature.
func (s *State) Empty() bool {
	return s.GFS2 == nil && s.GFS2Error == "" && s.OCFS2 == nil && s.OCFS2Error == "" &&
		s.Signature == nil && s.PartitionTable == nil && s.Data == nil
}

// Foreign reports whether the device holds anything besides a file system
// of type fs: a partition table, or a signature of another type, or several.
func (s *State) Foreign(fs string) bool {
	if s.PartitionTable != nil {
		return true
	}
	sig := s.Signature
	return sig != nil && (sig.Ambivalent || sig.PTType != "" || (sig.Type != "" && sig.Type != fs))
}

// Contents describes in words what is on the device, for messages: type,
// label or lock table, UUID ("ext4 file system (label "home", UUID ...)").
func (s *State) Contents() string {
	var parts []string
	switch {
	case s.GFS2 != nil:
		parts = append(parts, fmt.Sprintf("GFS2 file system (lock table %q, protocol %s, %d journals, UUID %s)",
			s.GFS2.LockTable, s.GFS2.LockProtocol, s.GFS2.Journals, s.GFS2.UUID))
		if s.GFS2Error != "" {
			parts[len(parts)-1] += " whose journal index cannot be read: " + s.GFS2Error
		}
	case s.GFS2Error != "":
		parts = append(parts, "damaged GFS2 file system ("+s.GFS2Error+")")
	}
	switch {
	case s.OCFS2 != nil:
		parts = append(parts, fmt.Sprintf("OCFS2 file system (label %q, cluster %s, %d slots, UUID %s)",
			s.OCFS2.Label, s.OCFS2.Cluster(), s.OCFS2.MaxSlots, s.OCFS2.UUID))
	case s.OCFS2Error != "":
		parts = append(parts, "damaged OCFS2 file system ("+s.OCFS2Error+")")
	}
	if sig := s.Signature; sig != nil {
		switch {
		case sig.Ambivalent:
			parts = append(parts, "several contradicting signatures ("+sig.Detail+")")
		case sig.Type != "" && (s.GFS2 == nil || sig.Type != "gfs2") && (s.OCFS2 == nil || sig.Type != "ocfs2"):
			d := sig.Type + " signature"
			if sig.Usage == "filesystem" {
				d = sig.Type + " file system"
			}
			var attrs []string
			if sig.Label != "" {
				attrs = append(attrs, fmt.Sprintf("label %q", sig.Label))
			}
			if sig.UUID != "" {
				attrs = append(attrs, "UUID "+sig.UUID)
			}
			if len(attrs) > 0 {
				d += " (" + strings.Join(attrs, ", ") + ")"
			}
			parts = append(parts, d)
		}
		if sig.PTType != "" && s.PartitionTable == nil {
			parts = append(parts, fmt.Sprintf("%s partition table (UUID %s)", sig.PTType, sig.PTUUID))
		}
	}
	if pt := s.PartitionTable; pt != nil {
		d := fmt.Sprintf("%s partition table with %d partition(s)", strings.ToUpper(pt.Type), pt.Partitions)
		if pt.Insane != "" {
			d = fmt.Sprintf("%s partition table that is not sane (%s)", strings.ToUpper(pt.Type), pt.Insane)
		}
		if s.Signature != nil && s.Signature.PTUUID != "" {
			d += " (UUID " + s.Signature.PTUUID + ")"
		}
		parts = append(parts, d)
	}
	if s.Data != nil {
		parts = append(parts, fmt.Sprintf("data that no known signature explains (a non-zero byte at offset %d)", s.Data.Offset))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " and ")
}

// Cluster is stack/name, as mounted.ocfs2 shows them.
func (sb *OCFS2Superblock) Cluster() string {
	switch {
	case sb.LocalMount:
		return "none (local mount)"
	case sb.ClusterName == "":
		return sb.ClusterStack
	}
	return sb.ClusterStack + "/" + sb.ClusterName
}

// Prober reads the state of a device.
type Prober struct {
	Run  command.Runner
	Host Host
}

// Probe reads path and returns what is on it. Errors mean the device could
// not be read; a damaged file system is not an error but part of the State.
func (p Prober) Probe(ctx context.Context, path string) (*State, error) {
	dev, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	s := &State{Device: path, Size: dev.Size(), BlockDevice: dev.IsBlockDevice()}
	if s.Usage, err = p.Host.UsageOf(path); err != nil {
		return nil, fmt.Errorf("find out whether %s is in use: %w", path, err)
	}
	// Where this node has the file system mounted, its newest metadata (a
	// journal gfs2_jadd just added) may still be in the page cache only.
	syncMounts(s.Usage.Mounts)

	s.GFS2, err = ReadGFS2(dev, dev.Size())
	var corrupt *CorruptError
	switch {
	case errors.Is(err, ErrNotFound):
	case errors.As(err, &corrupt):
		s.GFS2Error = corrupt.Reason
	case err != nil:
		return nil, fmt.Errorf("probe %s: %w", path, err)
	}
	s.OCFS2, err = ReadOCFS2(dev, dev.Size())
	switch {
	case errors.Is(err, ErrNotFound):
	case errors.As(err, &corrupt):
		s.OCFS2Error = corrupt.Reason
	case err != nil:
		return nil, fmt.Errorf("probe %s: %w", path, err)
	}

	if s.Signature, err = Blkid(ctx, p.Run, path); err != nil {
		return nil, err
	}
	if s.PartitionTable, err = ReadPartitionTable(path); err != nil {
		return nil, err
	}
	if s.Empty() {
		at, err := FindData(dev, dev.Size())
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", path, err)
		}
		if at >= 0 {
			s.Data = &UnknownData{Offset: at}
		}
	}
	if s.BlockDevice {
		// The kernel refuses an exclusive open of a device that is mounted
		// or claimed (device-mapper, md, a mounted partition): the last word.
		f, err := os.OpenFile(path, os.O_RDONLY|unix.O_EXCL, 0)
		if errors.Is(err, unix.EBUSY) {
			s.Usage.Holders = append(s.Usage.Holders, "the kernel (exclusive open: device or resource busy)")
		} else if err == nil {
			f.Close()
		}
	}
	return s, nil
}

// syncMounts writes back what the kernel holds for the given mounts
// (syncfs), best effort: the probe then reads what the file system holds.
func syncMounts(mounts []Mount) {
	for _, m := range mounts {
		fd, err := unix.Open(m.MountPoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		_ = unix.Syncfs(fd)
		unix.Close(fd)
	}
}
