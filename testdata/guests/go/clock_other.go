//go:build !wasip1

package main

import "fmt"

// clockResolution: the native build has no WASI clock_res_get to check.
func clockResolution() {
	fmt.Println("info clock-res not checked natively")
}
