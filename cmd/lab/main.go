// Command lab runs a multi-attach cluster of real VMs on this machine for
// the demo, Molecule and the end-to-end tests (never shipped).
package main

import (
	"os"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
