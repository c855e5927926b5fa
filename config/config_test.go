package config

import (
	"fmt"
	"strings"
	"testing"
)

// A config of many keys is refused before the decoder, whose time grows with
// the square of their number, sees it.
func TestTooManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("[env]\n")
	for i := 0; i <= MaxKeys; i++ {
		fmt.Fprintf(&b, "K%d = \"v\"\n", i)
	}
	_, err := Parse("Donjon.toml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "more than 4096 keys in one table") {
		t.Fatalf("config of %d keys: %v", MaxKeys+2, err)
	}
	// At the limit it is accepted.
	b.Reset()
	b.WriteString("[env]\n")
	for i := 0; i < MaxKeys-1; i++ {
		fmt.Fprintf(&b, "K%d = \"v\"\n", i)
	}
	c, err := Parse("Donjon.toml", []byte(b.String()))
	if err != nil || len(c.Env) != MaxKeys-1 {
		t.Fatalf("config of %d keys: %v", MaxKeys, err)
	}
}
