//go:build !linux

package galeratest

import "syscall"

// dieWithTest does nothing where the parent-death signal does not exist; the
// test's cleanup still kills the nodes.
func dieWithTest(*syscall.SysProcAttr) {}
