//go:build linux && race

package sealfs

// killRounds is smaller under the race detector, whose children take half
// a second each to start.
const killRounds = 12
