//go:build !linux

package main

import "syscall"

func sysAttr() *syscall.SysProcAttr { return nil }
