//go:build !linux

package sqsemu

import "syscall"

// procAttr puts goaws in a process group of its own: Stop ends every
// process in it. Only Linux can also bind it to blobvalet's death.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
