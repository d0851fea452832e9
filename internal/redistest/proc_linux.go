package redistest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill the child if the test binary dies
// before its cleanup runs.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
