//go:build !linux

package redistest

import "syscall"

// sysProcAttr asks nothing of the system where it cannot kill a child
// with its parent: there a crashed test may leave its server running.
func sysProcAttr() *syscall.SysProcAttr { return nil }
