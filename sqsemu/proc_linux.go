package sqsemu

import "syscall"

// procAttr puts goaws in a process group of its own (Stop ends every
// process in it) and has the kernel kill it when blobvalet dies, even by
// SIGKILL, so that no emulator is left behind holding its ports.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
