package clusterfs

import (
	"strings"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/blockdev"
)

const dev = "/dev/disk/by-id/virtio-test"

// State builders for the decision tests.
func emptyState() *blockdev.State { return &blockdev.State{Device: dev} }

func gfs2State(table, proto string, journals int) *blockdev.State {
	return &blockdev.State{Device: dev,
		GFS2:      &blockdev.GFS2Superblock{BlockSize: 4096, LockProtocol: proto, LockTable: table, UUID: "11111111-2222-3333-4444-555555555555", Journals: journals},
		Signature: &blockdev.Signature{Type: "gfs2", Usage: "filesystem", Label: table, UUID: "11111111-2222-3333-4444-555555555555"}}
}

func ocfs2State(label, stack, cluster string, slots int) *blockdev.State {
	return &blockdev.State{Device: dev,
		OCFS2:     &blockdev.OCFS2Superblock{BlockSize: 4096, ClusterSize: 4096, MaxSlots: slots, Label: label, UUID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", ClusterStack: stack, ClusterName: cluster},
		Signature: &blockdev.Signature{Type: "ocfs2", Usage: "filesystem", Label: label, UUID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}}
}

func ext4State() *blockdev.State {
	return &blockdev.State{Device: dev, Signature: &blockdev.Signature{Type: "ext4", Usage: "filesystem", Label: "home", UUID: "e4e4"}}
}

func gptState() *blockdev.State {
	return &blockdev.State{Device: dev, Signature: &blockdev.Signature{PTType: "gpt", PTUUID: "9a9a"},
		PartitionTable: &blockdev.PartitionTable{Type: "gpt", Partitions: 2}}
}

func mounted(s *blockdev.State, fstype, at string) *blockdev.State {
	s.Usage.Mounts = append(s.Usage.Mounts, blockdev.Mount{MountPoint: at, FSType: fstype})
	return s
}

var gfs2Want = GFS2Want{Device: dev, ClusterName: "lab", FSName: "data", LockProtocol: "lock_dlm", Journals: 3}

func TestPlanGFS2(t *testing.T) {
	force := gfs2Want
	force.Force = true
	bs1k := gfs2Want
	bs1k.BlockSize = 1024
	nolock := GFS2Want{Device: dev, LockProtocol: "lock_nolock", Journals: 1}

	cases := []struct {
		name     string
		want     GFS2Want
		state    *blockdev.State
		action   Action
		reason   []string
		add      int
		mount    string
		ocfs2Chk bool
	}{
		{"empty", gfs2Want, emptyState(), Create, []string{"create GFS2 on empty " + dev}, 0, "", false},
		{"same, enough journals", gfs2Want, gfs2State("lab:data", "lock_dlm", 3), Keep, []string{`already holds GFS2 with lock table "lab:data" and 3 journals`}, 0, "", false},
		{"same, more journals: never shrink", gfs2Want, gfs2State("lab:data", "lock_dlm", 8), Keep, nil, 0, "", false},
		{"same, fewer journals, mounted", gfs2Want, mounted(gfs2State("lab:data", "lock_dlm", 1), "gfs2", "/srv/data"), Grow, []string{"add 2 journals", "mounted at /srv/data", "from 1 to 3"}, 2, "/srv/data", false},
		{"same, fewer journals, only the meta file system mounted", gfs2Want, mounted(gfs2State("lab:data", "lock_dlm", 2), "gfs2meta", "/tmp/.gfs2meta"), Refuse, []string{"not mounted on this node"}, 0, "", false},
		{"same, fewer journals, not mounted", gfs2Want, gfs2State("lab:data", "lock_dlm", 2), Refuse, []string{"holds GFS2 with 2 journals", "3 are wanted", "not mounted on this node"}, 0, "", false},
		{"same, fewer journals, force does not matter", force, gfs2State("lab:data", "lock_dlm", 2), Refuse, []string{"not mounted on this node"}, 0, "", false},
		{"nolock same", nolock, gfs2State("", "lock_nolock", 1), Keep, nil, 0, "", false},
		{"other lock table", gfs2Want, gfs2State("other:data", "lock_dlm", 3), Refuse,
			[]string{`refusing to create GFS2 on ` + dev, `lock table "other:data"`, `UUID 11111111-2222-3333-4444-555555555555`, `not "lab:data"`, "tunegfs2 -o locktable=lab:data", forceHint}, 0, "", false},
		{"other lock table, force", force, gfs2State("other:data", "lock_dlm", 3), Recreate, []string{"force: wipe"}, 0, "", false},
		{"other lock table, force, mounted", force, mounted(gfs2State("other:data", "lock_dlm", 3), "gfs2", "/mnt"), Refuse, []string{"even with force: true", "mounted at /mnt (gfs2)"}, 0, "", false},
		{"other protocol", gfs2Want, gfs2State("lab:data", "lock_nolock", 3), Refuse, []string{"the lock table asked for", "lock protocol is lock_nolock, not lock_dlm", "Not even force: true"}, 0, "", false},
		{"other protocol, force: never wiped", force, gfs2State("lab:data", "lock_nolock", 3), Refuse, []string{"Not even force: true", "wipefs -a"}, 0, "", false},
		{"other block size", bs1k, gfs2State("lab:data", "lock_dlm", 3), Refuse, []string{"block size is 4096, not 1024", "Not even force: true"}, 0, "", false},
		{"other block size, force: never wiped", func() GFS2Want { w := bs1k; w.Force = true; return w }(), gfs2State("lab:data", "lock_dlm", 3), Refuse, []string{"block size is 4096, not 1024"}, 0, "", false},
		{"ext4", gfs2Want, ext4State(), Refuse, []string{`ext4 file system (label "home", UUID e4e4)`, forceHint}, 0, "", false},
		{"ext4 force", force, ext4State(), Recreate, nil, 0, "", false},
		{"ext4 force mounted", force, mounted(ext4State(), "ext4", "/home"), Refuse, []string{"refusing to format " + dev + " even with force: true: it is mounted at /home (ext4)"}, 0, "", false},
		{"gpt", gfs2Want, gptState(), Refuse, []string{"GPT partition table with 2 partition(s) (UUID 9a9a)", forceHint}, 0, "", false},
		{"ocfs2", gfs2Want, ocfs2State("web", "o2cb", "lab", 2), Refuse, []string{`OCFS2 file system (label "web", cluster o2cb/lab, 2 slots, UUID aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee)`, forceHint}, 0, "", false},
		{"ocfs2 force checks the cluster", force, ocfs2State("web", "o2cb", "lab", 2), Recreate, nil, 0, "", true},
		{"damaged gfs2 same table: never wiped", force, func() *blockdev.State {
			s := gfs2State("lab:data", "lock_dlm", 0)
			s.GFS2Error = "master directory has no jindex entry"
			return s
		}(), Refuse, []string{"fsck.gfs2", "no jindex"}, 0, "", false},
		{"damaged gfs2 other table, force", force, func() *blockdev.State {
			s := gfs2State("x:y", "lock_dlm", 0)
			s.GFS2Error = "broken"
			return s
		}(), Recreate, nil, 0, "", false},
		{"gfs2 magic, no superblock", gfs2Want, &blockdev.State{Device: dev, GFS2Error: "superblock has block size 3"}, Refuse, []string{"damaged GFS2 file system (superblock has block size 3)"}, 0, "", false},
		{"ambivalent", gfs2Want, &blockdev.State{Device: dev, Signature: &blockdev.Signature{Ambivalent: true, Detail: "ambivalent result"}}, Refuse, []string{"several contradicting signatures"}, 0, "", false},
		{"empty but swap in use", gfs2Want, func() *blockdev.State {
			s := emptyState()
			s.Usage.Holders = []string{"/dev/dm-0"}
			return s
		}(), Refuse, []string{"no signature but it is held by /dev/dm-0"}, 0, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := PlanGFS2(c.state, c.want)
			if p.Action != c.action || p.AddJournals != c.add || p.MountPoint != c.mount || p.ProbeOCFS2Mounts != c.ocfs2Chk {
				t.Errorf("plan %+v, want action %s add %d mount %q ocfs2 check %v", p, c.action, c.add, c.mount, c.ocfs2Chk)
			}
			for _, r := range c.reason {
				if !strings.Contains(p.Reason, r) {
					t.Errorf("reason %q lacks %q", p.Reason, r)
				}
			}
		})
	}
}

var ocfs2Want = OCFS2Want{Device: dev, Slots: 3, ClusterStack: "o2cb", ClusterName: "lab"}

func TestPlanOCFS2(t *testing.T) {
	with := func(f func(w *OCFS2Want)) OCFS2Want { w := ocfs2Want; f(&w); return w }
	cases := []struct {
		name   string
		want   OCFS2Want
		state  *blockdev.State
		action Action
		slots  int
		check  bool
		reason []string
	}{
		{"empty", ocfs2Want, emptyState(), Create, 0, false, []string{"create OCFS2 on empty"}},
		{"same", ocfs2Want, ocfs2State("", "o2cb", "lab", 3), Keep, 3, false, []string{"already holds OCFS2 for cluster o2cb/lab with 3 slots"}},
		{"same, any label when not given", ocfs2Want, ocfs2State("anything", "o2cb", "lab", 3), Keep, 3, false, nil},
		{"more slots, no shrink", ocfs2Want, ocfs2State("", "o2cb", "lab", 8), Keep, 8, false, nil},
		{"more slots, shrink", with(func(w *OCFS2Want) { w.Shrink = true }), ocfs2State("", "o2cb", "lab", 8), Shrink, 3, true, []string{"from 8 to 3"}},
		{"fewer slots", ocfs2Want, ocfs2State("", "o2cb", "lab", 2), Grow, 3, true, []string{"from 2 to 3"}},
		{"fewer slots, and a partition table", ocfs2Want, func() *blockdev.State {
			s := ocfs2State("", "o2cb", "lab", 2)
			s.Signature.PTType, s.PartitionTable = "dos", &blockdev.PartitionTable{Type: "dos", Partitions: 1}
			return s
		}(), Refuse, 2, false, []string{"DOS partition table with 1 partition(s)", "refusing to change the slots", "blkid -p"}},
		{"fewer slots, blkid sees two file systems", ocfs2Want, func() *blockdev.State {
			s := ocfs2State("", "o2cb", "lab", 2)
			s.Signature = &blockdev.Signature{Ambivalent: true, Detail: "ocfs2 and ext4"}
			return s
		}(), Refuse, 2, false, []string{"several contradicting signatures", "refusing to change the slots"}},
		{"fewer slots, mounted here", ocfs2Want, mounted(ocfs2State("", "o2cb", "lab", 2), "ocfs2", "/srv"), Refuse, 2, false, []string{"unmounted on every node", "mounted at /srv (ocfs2)"}},
		{"classic o2cb volume without a name", ocfs2Want, ocfs2State("", "o2cb", "", 3), Keep, 3, false, nil},
		{"other cluster", ocfs2Want, ocfs2State("web", "o2cb", "prod", 3), Refuse, 0, false, []string{`belongs to cluster "prod", not "lab"`, forceHint, `label "web"`}},
		{"other stack", ocfs2Want, ocfs2State("", "pcmk", "lab", 3), Refuse, 0, false, []string{"cluster stack is pcmk, not o2cb"}},
		{"other label", with(func(w *OCFS2Want) { w.Label, w.LabelSet = "db", true }), ocfs2State("web", "o2cb", "lab", 3), Refuse, 0, false, []string{`label is "web", not "db"`}},
		{"other block size", with(func(w *OCFS2Want) { w.BlockSize = 1024 }), ocfs2State("", "o2cb", "lab", 3), Refuse, 0, false, []string{"block size is 4096, not 1024"}},
		{"other cluster size", with(func(w *OCFS2Want) { w.ClusterSize = 8192 }), ocfs2State("", "o2cb", "lab", 3), Refuse, 0, false, []string{"cluster size is 4096, not 8192"}},
		{"local volume", ocfs2Want, func() *blockdev.State {
			s := ocfs2State("", "", "", 1)
			s.OCFS2.LocalMount = true
			return s
		}(), Refuse, 0, false, []string{"local (non-clustered) volume"}},
		{"other cluster, force", with(func(w *OCFS2Want) { w.Force = true }), ocfs2State("web", "o2cb", "prod", 3), Recreate, 0, true, nil},
		{"gfs2", ocfs2Want, gfs2State("lab:data", "lock_dlm", 2), Refuse, 0, false, []string{`GFS2 file system (lock table "lab:data"`, forceHint}},
		{"gfs2 force", with(func(w *OCFS2Want) { w.Force = true }), gfs2State("lab:data", "lock_dlm", 2), Recreate, 0, false, nil},
		{"xfs force mounted", with(func(w *OCFS2Want) { w.Force = true }), mounted(&blockdev.State{Device: dev, Signature: &blockdev.Signature{Type: "xfs", Usage: "filesystem"}}, "xfs", "/x"), Refuse, 0, false, []string{"even with force: true"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := PlanOCFS2(c.state, c.want)
			if p.Action != c.action || p.ProbeOCFS2Mounts != c.check || (c.action != Refuse && c.action != Create && c.action != Recreate && p.Slots != c.slots) {
				t.Errorf("plan %+v, want action %s slots %d check %v", p, c.action, c.slots, c.check)
			}
			for _, r := range c.reason {
				if !strings.Contains(p.Reason, r) {
					t.Errorf("reason %q lacks %q", p.Reason, r)
				}
			}
		})
	}
}
