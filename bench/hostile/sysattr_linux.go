package main

import "syscall"

// sysAttr makes a child die with the harness, even if the harness is killed.
func sysAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
