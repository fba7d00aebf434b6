package kamailiotest

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts kamailio in a process group of its own, so that stop
// reaches its workers too, and has the kernel send it SIGTERM when the
// test process dies without its cleanups (a panic, a test timeout):
// SIGTERM, not SIGKILL, because only a main process that shuts down
// politely takes its workers with it; killed, it leaves them running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// kill kills kamailio's process group: the main process and its workers
// at once. The main process is not yet reaped, so the group's id is
// still its own and cannot name anyone else's processes.
func kill(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
