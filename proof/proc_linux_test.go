package proof_test

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes cmd killed when the test process dies, however it dies (a
// timeout, a signal), so that no site or MariaDB outlives a test run.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
