package image

import (
	"fmt"
	"sort"
	"strings"
)

// Platform is a guest distribution the image can be built from.
type Platform struct {
	Name  string // the flag value: debian12
	Suite string // bookworm
	// Sources are sources.list lines for mmdebstrap; %s is the mirror.
	Sources []string
}

// Platforms are the guests the lab can build. Debian 13 differs only in its
// suite names.
var Platforms = map[string]Platform{
	"debian12": debianPlatform("debian12", "bookworm"),
	"debian13": debianPlatform("debian13", "trixie"),
}

// DefaultPlatform is the guest the lab builds unless told otherwise.
const DefaultPlatform = "debian12"

// DefaultMirror is where mmdebstrap downloads Debian's packages from.
const DefaultMirror = "http://deb.debian.org"

func debianPlatform(name, suite string) Platform {
	return Platform{Name: name, Suite: suite, Sources: []string{
		"deb %s/debian " + suite + " main",
		"deb %s/debian " + suite + "-updates main",
		"deb %s/debian-security " + suite + "-security main",
	}}
}

// LookupPlatform returns the platform called name.
func LookupPlatform(name string) (Platform, error) {
	p, ok := Platforms[name]
	if !ok {
		names := make([]string, 0, len(Platforms))
		for n := range Platforms {
			names = append(names, n)
		}
		sort.Strings(names)
		return Platform{}, fmt.Errorf("unknown platform %q: choose one of %s", name, strings.Join(names, ", "))
	}
	return p, nil
}
