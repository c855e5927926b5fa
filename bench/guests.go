package main

import (
	"context"
	"fmt"

	"donjon.dev/internal/testguest"
)

// program is one guest built twice from the same source: for WASI and for
// this machine.
type program struct {
	Lang         string // "C" or "Go"
	Wasm, Native string // paths of the two builds
}

type guestSet struct {
	Compute []program
	Hello   []program
}

// buildGuests builds (or finds already built, in dir) the compute guests
// and the hello examples, each for wasm and natively from the same source.
func buildGuests(ctx context.Context, dir string) (guestSet, error) {
	var gs guestSet
	for _, g := range []struct {
		lang, name string
		into       *[]program
	}{
		{"C", "c/compute", &gs.Compute},
		{"Go", "go/compute", &gs.Compute},
		{"C", "examples/hello-c", &gs.Hello},
		{"Go", "examples/hello-go", &gs.Hello},
	} {
		wasm, err := testguest.BuildTo(ctx, g.name, dir)
		if err != nil {
			return gs, fmt.Errorf("build the %s guest for wasm: %w", g.name, err)
		}
		native, err := testguest.BuildNativeTo(ctx, g.name, dir)
		if err != nil {
			return gs, fmt.Errorf("build the %s guest natively: %w", g.name, err)
		}
		*g.into = append(*g.into, program{Lang: g.lang, Wasm: wasm, Native: native})
	}
	return gs, nil
}
