//go:build !linux

package redistest

import "os/exec"

// setPdeathsig is Linux-only; elsewhere the cleanup alone stops the nodes.
func setPdeathsig(*exec.Cmd) {}
