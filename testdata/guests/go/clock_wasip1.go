package main

import (
	"fmt"
	"unsafe"
)

//go:wasmimport wasi_snapshot_preview1 clock_res_get
func clockResGet(id uint32, resolution unsafe.Pointer) uint32

// clockResolution checks clock_res_get, which Go's runtime never calls.
func clockResolution() {
	for _, c := range []struct {
		name string
		id   uint32
	}{{"realtime", 0}, {"monotonic", 1}} {
		var res uint64
		if errno := clockResGet(c.id, unsafe.Pointer(&res)); errno != 0 {
			failf("clock-res-"+c.name, "errno %d", errno)
		}
		fmt.Printf("info clock-res %s %d ns\n", c.name, res)
		if res == 0 || res > 1_000_000_000 {
			failf("clock-res-"+c.name, "resolution %d ns is not in (0, 1 s]", res)
		}
		ok("clock-res-" + c.name)
	}
}
