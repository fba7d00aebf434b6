//go:build !linux

package kamailiotest

import (
	"os/exec"
	"syscall"
)

// sysProcAttr asks nothing of the system where the Linux process group
// and parent-death handling are not available.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// kill kills kamailio's main process. Its workers outlive it there (they
// do not watch their parent): Kamailio is tested on Linux.
func kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
