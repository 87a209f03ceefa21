package clusterfs

import (
	"fmt"
	"strings"

	"github.com/cinder-multiattach/cinder.multiattach/internal/blockdev"
)

// Action is what a plan does to the device.
type Action string

const (
	// Keep: the file system is there as asked; nothing to do.
	Keep Action = "keep"
	// Create: the device is empty; make the file system.
	Create Action = "create"
	// Recreate: force: true over other contents; wipe signatures, then create.
	Recreate Action = "recreate"
	// Grow: add journals (GFS2) or slots (OCFS2).
	Grow Action = "grow"
	// Shrink: remove OCFS2 slots (only with shrink: true).
	Shrink Action = "shrink"
	// Refuse: leave the device as it is and fail with Reason.
	Refuse Action = "refuse"
)

// Decision is what both plans hold.
type Decision struct {
	Action Action
	Reason string // why: the message for Refuse, a summary otherwise
	// ProbeOCFS2Mounts asks for a check, before anything is written, that
	// no node has the OCFS2 volume on the device mounted: before wiping it,
	// or before tunefs.ocfs2 changes its slots.
	ProbeOCFS2Mounts bool
}

// GFS2Plan is the decision for gfs2_fs.
type GFS2Plan struct {
	Decision
	// JournalsBefore is the journal count found (0 when there is no GFS2).
	JournalsBefore int
	// AddJournals is how many journals Grow adds, on MountPoint.
	AddJournals int
	MountPoint  string
}

// OCFS2Plan is the decision for ocfs2_fs.
type OCFS2Plan struct {
	Decision
	SlotsBefore int
	Slots       int // the slot count after Grow or Shrink
}

// refuse is the decision to leave the device alone, for the reason given.
func refuse(format string, args ...any) Decision {
	return Decision{Action: Refuse, Reason: fmt.Sprintf(format, args...)}
}

// forceHint ends every refusal that force: true would overcome.
const forceHint = "force: true would destroy it"

// PlanGFS2 decides what gfs2_fs does with the device as read. It does no
// I/O.
func PlanGFS2(s *blockdev.State, w GFS2Want) GFS2Plan {
	// The lock table is the file system's identity: one with the table asked
	// for may be mounted on other nodes, which this node cannot see, so it is
	// never wiped, whatever else differs.
	if sb := s.GFS2; sb != nil && sb.LockTable == w.LockTable() {
		if s.GFS2Error != "" {
			// Unreadable: maybe caught mid-update by another node.
			return GFS2Plan{Decision: refuse(
				"%s holds %s: run fsck.gfs2 on it while it is unmounted everywhere; not even force: true wipes a file system with the lock table asked for",
				s.Device, s.Contents())}
		}
		if sb.LockProtocol != w.LockProtocol || (w.BlockSize != 0 && w.BlockSize != sb.BlockSize) {
			return GFS2Plan{Decision: refuse(
				"%s holds %s, the lock table asked for, but %s. Not even force: true wipes a file system with the lock table asked for "+
					"(it may be mounted on other nodes): ask for what it has, or erase it by hand (wipefs -a) once it is unmounted everywhere",
				s.Device, s.Contents(), gfs2Mismatch(w, s))}
		}
		plan := GFS2Plan{JournalsBefore: sb.Journals}
		if sb.Journals >= w.Journals {
			plan.Action = Keep
			plan.Reason = fmt.Sprintf("%s already holds GFS2 with lock table %q and %d journals", s.Device, sb.LockTable, sb.Journals)
			return plan
		}
		for _, m := range s.Usage.Mounts {
			// gfs2_jadd takes the mount point of the file system itself,
			// not of its meta file system.
			if m.FSType == "gfs2" {
				plan.Action = Grow
				plan.MountPoint = m.MountPoint
				plan.AddJournals = w.Journals - sb.Journals
				plan.Reason = fmt.Sprintf("add %d journals to GFS2 on %s (mounted at %s), from %d to %d",
					plan.AddJournals, s.Device, m.MountPoint, sb.Journals, w.Journals)
				return plan
			}
		}
		plan.Decision = refuse("%s holds GFS2 with %d journals and %d are wanted, but it is not mounted on this node: "+
			"gfs2_jadd adds journals through a mounted file system; mount it here (or run on a node where it is mounted) and run again",
			s.Device, sb.Journals, w.Journals)
		return plan
	}
	return GFS2Plan{Decision: planFormat(s, w.Force, "GFS2", gfs2Mismatch(w, s))}
}

// gfs2Mismatch explains why a GFS2 file system found is not the one asked
// for, and how to keep its data.
func gfs2Mismatch(w GFS2Want, s *blockdev.State) string {
	sb := s.GFS2
	if sb == nil || s.GFS2Error != "" {
		return ""
	}
	switch {
	case sb.LockTable != w.LockTable():
		return fmt.Sprintf("its lock table is %q, not %q (the kernel mounts it only in a cluster whose corosync cluster_name is the part before the colon; "+
			"to keep the data, change it with tunegfs2 -o locktable=%s while it is unmounted everywhere)", sb.LockTable, w.LockTable(), w.LockTable())
	case sb.LockProtocol != w.LockProtocol:
		return fmt.Sprintf("its lock protocol is %s, not %s (to keep the data, change it with tunegfs2 -o lockproto=%s)", sb.LockProtocol, w.LockProtocol, w.LockProtocol)
	default:
		return fmt.Sprintf("its block size is %d, not %d", sb.BlockSize, w.BlockSize)
	}
}

// PlanOCFS2 decides what ocfs2_fs does with the device as read. It does no
// I/O.
func PlanOCFS2(s *blockdev.State, w OCFS2Want) OCFS2Plan {
	if sb := s.OCFS2; sb != nil && ocfs2Matches(w, sb) {
		plan := OCFS2Plan{SlotsBefore: sb.MaxSlots, Slots: sb.MaxSlots}
		switch {
		case sb.MaxSlots < w.Slots:
			plan.Action = Grow
		case sb.MaxSlots > w.Slots && w.Shrink:
			plan.Action = Shrink
		default:
			plan.Action = Keep
			plan.Reason = fmt.Sprintf("%s already holds OCFS2 for cluster %s with %d slots", s.Device, sb.Cluster(), sb.MaxSlots)
			return plan
		}
		if s.Usage.InUse() {
			plan.Decision = refuse("%s holds OCFS2 with %d slots and %d are wanted, but tunefs.ocfs2 -N works only while the volume is unmounted on every node, and here it is %s",
				s.Device, sb.MaxSlots, w.Slots, s.Usage.Describe())
			return plan
		}
		if s.Foreign("ocfs2") {
			// tunefs.ocfs2 writes the device itself: not when something
			// else claims it too.
			plan.Decision = refuse("%s holds %s: refusing to change the slots of a device that holds more than the OCFS2 volume; "+
				"look at it with blkid -p and wipefs -n", s.Device, s.Contents())
			return plan
		}
		plan.Slots = w.Slots
		plan.ProbeOCFS2Mounts = true
		plan.Reason = fmt.Sprintf("change the slots of OCFS2 on %s from %d to %d", s.Device, sb.MaxSlots, w.Slots)
		return plan
	}
	return OCFS2Plan{Decision: planFormat(s, w.Force, "OCFS2", ocfs2Mismatch(w, s))}
}

func ocfs2Matches(w OCFS2Want, sb *blockdev.OCFS2Superblock) bool {
	return ocfs2Difference(w, sb) == ""
}

// ocfs2Difference names the first property of sb that differs from w.
func ocfs2Difference(w OCFS2Want, sb *blockdev.OCFS2Superblock) string {
	switch {
	case sb.LocalMount:
		return "it is a local (non-clustered) volume"
	case sb.ClusterStack != w.ClusterStack:
		return fmt.Sprintf("its cluster stack is %s, not %s", sb.ClusterStack, w.ClusterStack)
	// A classic o2cb volume records no cluster name and mounts in any o2cb cluster.
	case sb.ClusterName != w.ClusterName && !(sb.ClusterName == "" && sb.ClusterStack == "o2cb"):
		return fmt.Sprintf("it belongs to cluster %q, not %q", sb.ClusterName, w.ClusterName)
	case w.LabelSet && sb.Label != w.Label:
		return fmt.Sprintf("its label is %q, not %q (to keep the data, change it with tunefs.ocfs2 -L)", sb.Label, w.Label)
	case w.BlockSize != 0 && sb.BlockSize != w.BlockSize:
		return fmt.Sprintf("its block size is %d, not %d", sb.BlockSize, w.BlockSize)
	case w.ClusterSize != 0 && sb.ClusterSize != w.ClusterSize:
		return fmt.Sprintf("its cluster size is %d, not %d", sb.ClusterSize, w.ClusterSize)
	}
	return ""
}

func ocfs2Mismatch(w OCFS2Want, s *blockdev.State) string {
	if s.OCFS2 == nil {
		return ""
	}
	return ocfs2Difference(w, s.OCFS2)
}

// planFormat decides between creating, refusing and (with force) wiping,
// for a device that does not hold the file system asked for.
func planFormat(s *blockdev.State, force bool, fs, mismatch string) Decision {
	if s.Empty() {
		if s.Usage.InUse() {
			return refuse("refusing to create %s on %s: it shows no signature but it is %s", fs, s.Device, s.Usage.Describe())
		}
		return Decision{Action: Create, Reason: fmt.Sprintf("create %s on empty %s", fs, s.Device)}
	}
	found := s.Contents()
	if mismatch != "" {
		found += "; " + mismatch
	}
	if !force {
		return refuse("refusing to create %s on %s: it holds %s. %s", fs, s.Device, found, forceHint)
	}
	if s.Usage.InUse() {
		return refuse("refusing to format %s even with force: true: it is %s (it holds %s)", s.Device, s.Usage.Describe(), found)
	}
	return Decision{
		Action:           Recreate,
		Reason:           fmt.Sprintf("force: wipe %s (it holds %s) and create %s", s.Device, found, fs),
		ProbeOCFS2Mounts: s.OCFS2 != nil,
	}
}

// nodeList joins node names for messages.
func nodeList(nodes []string) string { return strings.Join(nodes, ", ") }
