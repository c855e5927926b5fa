//go:build linux && !race

package sealfs

// killRounds is how many children TestKillDuringWrites kills.
const killRounds = 40
