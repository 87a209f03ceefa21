package blockdev

import (
	"context"
	"fmt"
	"strings"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
)

// Signature is what `blkid -p` found on a device.
type Signature struct {
	Type    string // TYPE: ext4, xfs, gfs2, ocfs2, swap, LVM2_member...
	Usage   string // USAGE: filesystem, raid, crypto, other
	Label   string
	UUID    string
	PTType  string // PTTYPE: gpt, dos... when a partition table was found
	PTUUID  string
	Version string
	// Ambivalent is set when blkid found several signatures that contradict
	// each other (exit code 8); Detail then holds blkid's own explanation.
	Ambivalent bool
	Detail     string
}

// Blkid exit codes (blkid(8)).
const (
	blkidNothingFound = 2
	blkidAmbivalent   = 8
)

// Blkid runs `blkid -p -o export` on path: a low-level probe that bypasses
// blkid's cache. It returns nil when blkid found nothing (exit code 2). Any
// failure other than the documented codes is returned as an error, never
// read as "empty". The caller must have checked that path exists: blkid
// also exits 2 for a path it cannot open.
func Blkid(ctx context.Context, run command.Runner, path string) (*Signature, error) {
	res, err := run.Run(ctx, "blkid", "-p", "-o", "export", path)
	if code, ok := command.ExitCode(err); ok {
		switch code {
		case blkidNothingFound:
			return nil, nil
		case blkidAmbivalent:
			return &Signature{Ambivalent: true, Detail: strings.TrimSpace(res.Stderr)}, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("probe %s for signatures: %w", path, err)
	}
	sig := parseBlkidExport(res.Stdout)
	if sig == (Signature{}) {
		return nil, fmt.Errorf("probe %s for signatures: blkid exited 0 but printed no TYPE or PTTYPE: %q", path, res.Stdout)
	}
	return &sig, nil
}

func parseBlkidExport(out string) Signature {
	var sig Signature
	for _, line := range strings.Split(out, "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		val = unescapeBlkid(val)
		switch key {
		case "TYPE":
			sig.Type = val
		case "USAGE":
			sig.Usage = val
		case "LABEL":
			sig.Label = val
		case "UUID":
			sig.UUID = val
		case "PTTYPE":
			sig.PTType = val
		case "PTUUID":
			sig.PTUUID = val
		case "VERSION":
			sig.Version = val
		}
	}
	return sig
}

// unescapeBlkid undoes the backslash escaping of `-o export` (a space in a
// label is printed as "\ ").
func unescapeBlkid(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
