// Package clusterfs implements the gfs2_fs and ocfs2_fs modules: create a
// cluster file system on a shared device safely and only once, and grow it
// (journals, slots) when nodes are added. Each run takes the steps of every
// module: Params → Want (GFS2WantFromParams, OCFS2WantFromParams), Read →
// Have (System.Read probes the device with package blockdev), Plan(Have,
// Want) → Plan (PlanGFS2, PlanOCFS2: pure functions), and unless in check
// mode Apply(Plan) (System.ApplyGFS2, System.ApplyOCFS2), the only step
// that runs commands that write.
package clusterfs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// GFS2Spec is the gfs2_fs module's argument spec.
var GFS2Spec = module.Spec{
	"device":        {Type: module.Path, Required: true},
	"cluster_name":  {},
	"fs_name":       {},
	"journals":      {Type: module.Int, Required: true},
	"journal_size":  {Type: module.Int},
	"block_size":    {Type: module.Int, Choices: []any{512, 1024, 2048, 4096}},
	"lock_protocol": {Default: "lock_dlm", Choices: []any{"lock_dlm", "lock_nolock"}},
	"force":         {Type: module.Bool, Default: false},
}

// OCFS2Spec is the ocfs2_fs module's argument spec.
var OCFS2Spec = module.Spec{
	"device":        {Type: module.Path, Required: true},
	"slots":         {Type: module.Int, Required: true},
	"label":         {},
	"cluster_stack": {Default: "o2cb", Choices: []any{"o2cb", "pcmk"}},
	"cluster_name":  {Required: true},
	"fs_type":       {Choices: []any{"mail", "datafiles", "vmstore"}},
	"block_size":    {Type: module.Int, Choices: []any{512, 1024, 2048, 4096}},
	"cluster_size":  {Type: module.Int, Choices: []any{4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576}},
	"force":         {Type: module.Bool, Default: false},
	"shrink":        {Type: module.Bool, Default: false},
}

// GFS2Want is what the user asked of gfs2_fs.
type GFS2Want struct {
	Device       string
	ClusterName  string
	FSName       string
	LockProtocol string
	Journals     int
	JournalSize  int // MiB; 0 leaves mkfs.gfs2's default
	BlockSize    int // bytes; 0 leaves mkfs.gfs2's default
	Force        bool
}

// LockTable is cluster:fs, or empty for lock_nolock without names.
func (w GFS2Want) LockTable() string {
	if w.ClusterName == "" && w.FSName == "" {
		return ""
	}
	return w.ClusterName + ":" + w.FSName
}

// OCFS2Want is what the user asked of ocfs2_fs.
type OCFS2Want struct {
	Device       string
	Slots        int
	Label        string
	LabelSet     bool // an empty label given on purpose is a label too
	ClusterStack string
	ClusterName  string
	FSType       string
	BlockSize    int
	ClusterSize  int
	Force        bool
	Shrink       bool
}

// Lock table limits from mkfs.gfs2 (gfs2/mkfs/main_mkfs.c, test_locking).
const (
	maxGFS2ClusterName = 32
	maxGFS2FSName      = 30
	minJournalSize     = 8    // MiB, LGFS2_MIN_JSIZE
	maxJournalSize     = 1024 // MiB, LGFS2_MAX_JSIZE
)

// OCFS2 limits: o2cb cluster names are 1–16 letters or digits
// (o2cb_valid_cluster_name), labels shorter than 64 bytes, 1–255 slots.
const (
	maxOCFS2ClusterName = 16
	maxOCFS2Label       = 63
	maxOCFS2Slots       = 255
)

// GFS2WantFromParams reads and validates gfs2_fs's options.
func GFS2WantFromParams(p module.Params) (GFS2Want, error) {
	w := GFS2Want{
		Device:       p.String("device"),
		ClusterName:  p.String("cluster_name"),
		FSName:       p.String("fs_name"),
		LockProtocol: p.String("lock_protocol"),
		Journals:     p.Int("journals"),
		JournalSize:  p.Int("journal_size"),
		BlockSize:    p.Int("block_size"),
		Force:        p.Bool("force"),
	}
	var problems []string
	if w.Device == "" {
		problems = append(problems, "device must not be empty")
	}
	if w.Journals < 1 {
		problems = append(problems, fmt.Sprintf("journals must be at least 1, got %d", w.Journals))
	}
	if p.IsSet("journal_size") && (w.JournalSize < minJournalSize || w.JournalSize > maxJournalSize) {
		problems = append(problems, fmt.Sprintf("journal_size must be %d to %d (MiB), got %d", minJournalSize, maxJournalSize, w.JournalSize))
	}
	named := p.IsSet("cluster_name") || p.IsSet("fs_name")
	switch {
	case w.LockProtocol == "lock_dlm" && (!p.IsSet("cluster_name") || !p.IsSet("fs_name")):
		problems = append(problems, "lock_protocol lock_dlm needs cluster_name and fs_name (the lock table cluster_name:fs_name)")
	case named && (!p.IsSet("cluster_name") || !p.IsSet("fs_name")):
		problems = append(problems, "give both cluster_name and fs_name, or neither")
	case named:
		if err := ValidateLockTable(w.ClusterName, w.FSName); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return w, errors.New(strings.Join(problems, "; "))
	}
	return w, nil
}

// ValidateLockTable applies mkfs.gfs2's rules to the two halves of a lock
// table: the cluster name at most 32 and the file system name at most 30
// characters, both non-empty, of letters, digits, '-' and '_'.
func ValidateLockTable(cluster, fs string) error {
	check := func(what, s string, max int) error {
		if s == "" {
			return fmt.Errorf("invalid lock table: %s is missing", what)
		}
		if len(s) > max {
			return fmt.Errorf("invalid lock table: %s %q is too long (%d characters, at most %d)", what, s, len(s), max)
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("invalid lock table: %s %q has invalid character %q (letters, digits, '-' and '_' only)", what, s, r)
			}
		}
		return nil
	}
	if err := check("cluster_name", cluster, maxGFS2ClusterName); err != nil {
		return err
	}
	return check("fs_name", fs, maxGFS2FSName)
}

// OCFS2WantFromParams reads and validates ocfs2_fs's options.
func OCFS2WantFromParams(p module.Params) (OCFS2Want, error) {
	w := OCFS2Want{
		Device:       p.String("device"),
		Slots:        p.Int("slots"),
		Label:        p.String("label"),
		LabelSet:     p.IsSet("label"),
		ClusterStack: p.String("cluster_stack"),
		ClusterName:  p.String("cluster_name"),
		FSType:       p.String("fs_type"),
		BlockSize:    p.Int("block_size"),
		ClusterSize:  p.Int("cluster_size"),
		Force:        p.Bool("force"),
		Shrink:       p.Bool("shrink"),
	}
	var problems []string
	if w.Device == "" {
		problems = append(problems, "device must not be empty")
	}
	if w.Slots < 1 || w.Slots > maxOCFS2Slots {
		problems = append(problems, fmt.Sprintf("slots must be 1 to %d, got %d", maxOCFS2Slots, w.Slots))
	}
	if len(w.Label) > maxOCFS2Label {
		problems = append(problems, fmt.Sprintf("label must be shorter than 64 bytes, got %d", len(w.Label)))
	}
	if strings.ContainsRune(w.Label, 0) {
		problems = append(problems, "label must not contain a NUL byte")
	}
	if err := ValidateOCFS2ClusterName(w.ClusterStack, w.ClusterName); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return w, errors.New(strings.Join(problems, "; "))
	}
	return w, nil
}

// ValidateOCFS2ClusterName applies the cluster stack's rule: o2cb takes 1 to
// 16 letters or digits; pacemaker's cluster names (corosync's, as dlm uses
// them) may also hold '-', '_' and '.', and the superblock keeps 16 bytes.
func ValidateOCFS2ClusterName(stack, name string) error {
	if name == "" {
		return errors.New("cluster_name must not be empty")
	}
	if len(name) > maxOCFS2ClusterName {
		return fmt.Errorf("cluster_name %q is too long (%d characters, at most %d)", name, len(name), maxOCFS2ClusterName)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
		case stack == "pcmk" && (r == '-' || r == '_' || r == '.'):
		case stack == "pcmk":
			return fmt.Errorf("cluster_name %q has invalid character %q (letters, digits, '-', '_' and '.' only, for the pcmk stack)", name, r)
		default:
			return fmt.Errorf("cluster_name %q has invalid character %q (letters and digits only, as o2cb requires)", name, r)
		}
	}
	return nil
}
