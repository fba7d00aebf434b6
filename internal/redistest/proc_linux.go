package redistest

import "syscall"

// sysProcAttr has the kernel kill redis-server when the test process
// dies without its cleanups (a panic, a test timeout), so that no server
// outlives the test that started it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
