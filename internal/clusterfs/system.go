package clusterfs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/blockdev"
	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
	"github.com/cinder-multiattach/cinder.multiattach/internal/systemd"
)

// Timeouts for one external command. Reading is quick; mkfs writes every
// journal in full and a large shared disk can take long.
const (
	readTimeout  = 2 * time.Minute
	writeTimeout = 2 * time.Hour
)

// The services each change needs on the node.
var (
	gfs2JaddUnits = []string{"dlm.service"}
	ocfs2Units    = map[string][]string{"o2cb": {"o2cb.service"}, "pcmk": {"dlm.service"}}
)

// System is everything the modules touch outside themselves. Tests replace
// each part: the runner with an ordered fake, the probe with scripted states.
type System struct {
	Run   command.Runner
	Probe func(ctx context.Context, device string) (*blockdev.State, error)
	Units systemd.Units
}

// Host is the running machine.
func Host() System {
	run := command.Exec{}
	prober := blockdev.Prober{Run: run, Host: blockdev.DefaultHost}
	return System{Run: run, Probe: prober.Probe, Units: systemd.Bus{}}
}

func (s System) run(ctx context.Context, timeout time.Duration, name string, args ...string) (command.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.Run.Run(ctx, name, args...)
}

// Read probes the device: what it holds, and who uses it.
func (s System) Read(ctx context.Context, device string) (*blockdev.State, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return s.Probe(ctx, device)
}

// wipe erases every signature blkid knows (file systems, partition tables,
// RAID and LVM headers). wipefs itself refuses a device in use.
func (s System) wipe(ctx context.Context, device string) error {
	if _, err := s.run(ctx, writeTimeout, "wipefs", "--all", device); err != nil {
		return fmt.Errorf("wipe the signatures on %s: %w", device, err)
	}
	return nil
}

// format creates the file system fs with mkfs (after wiping the device when
// recreate is set) and reads the device back; holds tells whether it now
// holds what was asked for. Its errors are module failures whose changed
// flag says whether the device was already written.
func (s System) format(ctx context.Context, device string, recreate bool, fs, mkfs string, args []string, holds func(*blockdev.State) bool) (*blockdev.State, error) {
	if recreate {
		if err := s.wipe(ctx, device); err != nil {
			return nil, deviceFailure(device, false, "%v", err)
		}
	}
	if _, err := s.run(ctx, writeTimeout, mkfs, args...); err != nil {
		// A failed mkfs may have written part of the file system: read the
		// device again, so that changed tells the truth.
		after, perr := s.Read(ctx, device)
		switch {
		case perr != nil:
			return nil, deviceFailure(device, true, "create %s on %s: %v (and the device cannot be read back: %v)", fs, device, err, perr)
		case recreate || !after.Empty():
			return nil, deviceFailure(device, true, "create %s on %s: %v (the device now holds %s)", fs, device, err, after.Contents())
		}
		return nil, deviceFailure(device, false, "create %s on %s: %v", fs, device, err)
	}
	after, err := s.Read(ctx, device)
	if err != nil {
		return nil, deviceFailure(device, true, "%s succeeded but %s cannot be read back: %v", mkfs, device, err)
	}
	if !holds(after) {
		return nil, deviceFailure(device, true, "%s succeeded but %s now holds %s", mkfs, device, after.Contents())
	}
	return after, nil
}

// deviceFailure is a module failure about device.
func deviceFailure(device string, changed bool, format string, args ...any) error {
	return &module.Failure{Msg: fmt.Sprintf(format, args...), Changed: changed, Values: map[string]any{"device": device}}
}

// propsDiff is the diff of a device's properties.
func propsDiff(device string, before, after map[string]any) *module.Diff {
	return &module.Diff{Before: before, After: after, BeforeHeader: device + " (before)", AfterHeader: device + " (after)"}
}

// ocfs2MountedNodes asks mounted.ocfs2 for the nodes that have the OCFS2
// volume on device mounted (its slot map and heartbeat, the cluster's view).
func (s System) ocfs2MountedNodes(ctx context.Context, device string) ([]string, error) {
	res, err := s.run(ctx, readTimeout, "mounted.ocfs2", "-f", device)
	if err != nil {
		return nil, fmt.Errorf("find the nodes that mount %s: %w", device, err)
	}
	return parseMountedOCFS2(res.Stdout, res.Stderr)
}

// parseMountedOCFS2 reads `mounted.ocfs2 -f DEVICE`:
//
//	Device    Stack  Cluster  F  Nodes
//	/dev/vdb  o2cb   lab         node1, node2
//
// The Nodes column is "Not mounted", a list of node names (or numbers when
// the stack does not know the names), or an error from com_err on stderr.
func parseMountedOCFS2(stdout, stderr string) ([]string, error) {
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	col := -1
	var rows []string
	for _, l := range lines {
		if col < 0 {
			if i := strings.Index(l, "Nodes"); i >= 0 && strings.HasPrefix(strings.TrimSpace(l), "Device") {
				col = i
			}
			continue
		}
		if strings.TrimSpace(l) != "" {
			rows = append(rows, l)
		}
	}
	if col < 0 || len(rows) != 1 {
		return nil, fmt.Errorf("cannot read mounted.ocfs2 output: %q %s", stdout, strings.TrimSpace(stderr))
	}
	if len(rows[0]) <= col {
		return nil, fmt.Errorf("mounted.ocfs2 could not tell which nodes mount the volume: %s", strings.TrimSpace(stderr))
	}
	field := strings.TrimSpace(rows[0][col:])
	switch field {
	case "Not mounted":
		return nil, nil
	case "":
		return nil, fmt.Errorf("mounted.ocfs2 could not tell which nodes mount the volume: %s", strings.TrimSpace(stderr))
	case "Heartbeat device":
		return nil, fmt.Errorf("the device is an o2cb global heartbeat device")
	}
	var nodes []string
	for _, n := range strings.Split(field, ",") {
		if n = strings.TrimSpace(n); n != "" {
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}
