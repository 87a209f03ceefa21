package clusterfs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// params validates args against spec as the module protocol does.
func params(t *testing.T, spec module.Spec, args map[string]any) module.Params {
	t.Helper()
	data, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	req, err := module.DecodeArgs("test", data, spec)
	if err != nil {
		t.Fatalf("DecodeArgs(%s): %v", data, err)
	}
	return req.Params
}

func TestValidateLockTable(t *testing.T) {
	cases := []struct {
		cluster, fs string
		want        string // "" = valid
	}{
		{"gfs2lab", "shared", ""},
		{"my-cluster_1", "FS_2-x", ""},
		{strings.Repeat("c", 32), strings.Repeat("f", 30), ""},
		{strings.Repeat("c", 33), "fs", "cluster_name \"" + strings.Repeat("c", 33) + "\" is too long (33 characters, at most 32)"},
		{"c", strings.Repeat("f", 31), "is too long (31 characters, at most 30)"},
		{"", "fs", "cluster_name is missing"},
		{"c", "", "fs_name is missing"},
		{"a:b", "fs", "invalid character ':'"},
		{"c", "f s", "invalid character ' '"},
		{"c", "fs.1", "invalid character '.'"},
		{"clüster", "fs", "invalid character 'ü'"},
	}
	for _, c := range cases {
		err := ValidateLockTable(c.cluster, c.fs)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q:%q: unexpected error %v", c.cluster, c.fs, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q:%q: want error containing %q, got %v", c.cluster, c.fs, c.want, err)
		}
	}
}

func TestGFS2WantFromParams(t *testing.T) {
	w, err := GFS2WantFromParams(params(t, GFS2Spec, map[string]any{"device": "/dev/vdb", "cluster_name": "lab", "fs_name": "data", "journals": 3, "journal_size": 32, "block_size": 1024}))
	if err != nil {
		t.Fatal(err)
	}
	want := GFS2Want{Device: "/dev/vdb", ClusterName: "lab", FSName: "data", LockProtocol: "lock_dlm", Journals: 3, JournalSize: 32, BlockSize: 1024}
	if w != want || w.LockTable() != "lab:data" {
		t.Errorf("got %+v", w)
	}
	w, err = GFS2WantFromParams(params(t, GFS2Spec, map[string]any{"device": "/img", "lock_protocol": "lock_nolock", "journals": 1}))
	if err != nil || w.LockTable() != "" {
		t.Errorf("lock_nolock without names: %+v %v", w, err)
	}

	bad := []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"device": "/d", "journals": 1}, "lock_protocol lock_dlm needs cluster_name and fs_name"},
		{map[string]any{"device": "/d", "journals": 1, "cluster_name": "c"}, "needs cluster_name and fs_name"},
		{map[string]any{"device": "/d", "journals": 1, "lock_protocol": "lock_nolock", "fs_name": "f"}, "give both cluster_name and fs_name, or neither"},
		{map[string]any{"device": "/d", "journals": 0, "cluster_name": "c", "fs_name": "f"}, "journals must be at least 1, got 0"},
		{map[string]any{"device": "/d", "journals": 1, "cluster_name": "c", "fs_name": "f", "journal_size": 4}, "journal_size must be 8 to 1024 (MiB), got 4"},
		{map[string]any{"device": "/d", "journals": 1, "cluster_name": "c", "fs_name": "f", "journal_size": 2048}, "journal_size must be 8 to 1024"},
		{map[string]any{"device": "/d", "journals": 1, "cluster_name": "c:x", "fs_name": "f"}, "invalid lock table"},
		{map[string]any{"device": "", "journals": 1, "cluster_name": "c", "fs_name": "f"}, "device must not be empty"},
	}
	for _, b := range bad {
		if _, err := GFS2WantFromParams(params(t, GFS2Spec, b.args)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v: want %q, got %v", b.args, b.want, err)
		}
	}
}

func TestGFS2SpecRejects(t *testing.T) {
	for _, args := range []string{
		`{"device":"/d","journals":1,"block_size":8192,"cluster_name":"c","fs_name":"f"}`,
		`{"device":"/d","journals":1,"lock_protocol":"lock_gulm","cluster_name":"c","fs_name":"f"}`,
		`{"device":"/d","cluster_name":"c","fs_name":"f"}`,
		`{"device":"/d","journals":1,"cluster_name":"c","fs_name":"f","slots":2}`,
	} {
		if _, err := module.DecodeArgs("gfs2_fs", []byte(args), GFS2Spec); err == nil {
			t.Errorf("%s: want an argument error", args)
		}
	}
}

func TestValidateOCFS2ClusterName(t *testing.T) {
	for _, c := range []struct{ stack, name, want string }{
		{"o2cb", "ocfs2lab", ""},
		{"o2cb", "A1", ""},
		{"o2cb", strings.Repeat("x", 16), ""},
		{"o2cb", strings.Repeat("x", 17), "too long (17 characters, at most 16)"},
		{"o2cb", "", "must not be empty"},
		{"o2cb", "my-cluster", "invalid character '-' (letters and digits only"},
		{"o2cb", "my_cluster", "invalid character '_'"},
		{"o2cb", "space here", "invalid character ' '"},
		{"o2cb", "dot.name", "invalid character '.'"},
		{"o2cb", "\u00e9t\u00e9", "invalid character"},
		// mkfs.ocfs2 --cluster-stack=pcmk takes these (pcs's examples use them).
		{"pcmk", "my_cluster", ""},
		{"pcmk", "ha-cluster", ""},
		{"pcmk", "ha.cluster", ""},
		{"pcmk", strings.Repeat("x", 17), "too long"},
		{"pcmk", "", "must not be empty"},
		{"pcmk", "a b", "invalid character ' ' (letters, digits, '-', '_' and '.' only"},
		{"pcmk", "a:b", "invalid character ':'"},
	} {
		err := ValidateOCFS2ClusterName(c.stack, c.name)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %q: %v", c.stack, c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %q: want %q, got %v", c.stack, c.name, c.want, err)
		}
	}
}

func TestOCFS2WantFromParams(t *testing.T) {
	w, err := OCFS2WantFromParams(params(t, OCFS2Spec, map[string]any{"device": "/dev/vdb", "slots": 4, "cluster_name": "lab", "label": "web",
		"fs_type": "vmstore", "block_size": 4096, "cluster_size": 65536, "shrink": true}))
	if err != nil {
		t.Fatal(err)
	}
	want := OCFS2Want{Device: "/dev/vdb", Slots: 4, Label: "web", LabelSet: true, ClusterStack: "o2cb", ClusterName: "lab",
		FSType: "vmstore", BlockSize: 4096, ClusterSize: 65536, Shrink: true}
	if w != want {
		t.Errorf("got %+v", w)
	}
	bad := []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"device": "/d", "slots": 0, "cluster_name": "c"}, "slots must be 1 to 255, got 0"},
		{map[string]any{"device": "/d", "slots": 256, "cluster_name": "c"}, "slots must be 1 to 255, got 256"},
		{map[string]any{"device": "/d", "slots": 2, "cluster_name": "c", "label": strings.Repeat("l", 64)}, "label must be shorter than 64 bytes, got 64"},
		{map[string]any{"device": "/d", "slots": 2, "cluster_name": "bad-name"}, "invalid character '-'"},
	}
	for _, b := range bad {
		if _, err := OCFS2WantFromParams(params(t, OCFS2Spec, b.args)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v: want %q, got %v", b.args, b.want, err)
		}
	}
	for _, args := range []string{
		`{"device":"/d","slots":2}`,
		`{"device":"/d","slots":2,"cluster_name":"c","cluster_stack":"cman"}`,
		`{"device":"/d","slots":2,"cluster_name":"c","cluster_size":2048}`,
		`{"device":"/d","slots":2,"cluster_name":"c","fs_type":"database"}`,
	} {
		if _, err := module.DecodeArgs("ocfs2_fs", []byte(args), OCFS2Spec); err == nil {
			t.Errorf("%s: want an argument error", args)
		}
	}
}
