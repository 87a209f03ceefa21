// Command fence_nova is a fence agent for dlm_controld whose power switch is
// OpenStack Nova; see package fence for what it does and how to set it up.
package main

import "github.com/cinder-multiattach/cinder.multiattach/internal/fence"

func main() { fence.Main() }
