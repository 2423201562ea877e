package galeratest

import "syscall"

// dieWithTest makes the node killed when the test process dies, however it dies
// (a timeout, a signal). Go sets it after switching to the mysql user, so the
// switch does not clear it.
func dieWithTest(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
