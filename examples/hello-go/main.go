// Command hello-go is the smallest donjon app in Go: it says hello, shows
// the arguments and environment its keep gave it, and exits.
//
// Build it for WebAssembly (WASI preview 1) with
//
//	GOOS=wasip1 GOARCH=wasm go build -o hello-go.wasm ./examples/hello-go
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("Hello from Go, inside a donjon keep!")
	fmt.Printf("arguments: %q\n", os.Args[1:])

	// GREETING comes from [env] in Donjon.toml; nothing from the host's
	// environment reaches the guest.
	if greeting, ok := os.LookupEnv("GREETING"); ok {
		fmt.Printf("GREETING=%s\n", greeting)
	}
	// The keep describes the file descriptors it opened, as Enarx did.
	fmt.Printf("FD_COUNT=%s\n", os.Getenv("FD_COUNT"))
	fmt.Printf("FD_NAMES=%s\n", os.Getenv("FD_NAMES"))
}
