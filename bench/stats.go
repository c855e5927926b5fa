package main

import (
	"fmt"
	"slices"
	"time"
)

// summary is the middle and the extremes of a set of repetitions.
type summary struct {
	Median, Min, Max float64
	N                int
}

func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	med := s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return summary{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// pairedRatios divides each measurement by the baseline of the same
// repetition. Pairs were run back to back, so a slow moment of the machine
// weighs on both sides of a ratio rather than on one of them.
func pairedRatios(subject, baseline []time.Duration) ([]float64, error) {
	if len(subject) != len(baseline) {
		return nil, fmt.Errorf("internal error: %d measurements against %d baselines", len(subject), len(baseline))
	}
	out := make([]float64, len(subject))
	for i := range subject {
		if baseline[i] <= 0 {
			return nil, fmt.Errorf("baseline %d measured %v: cannot divide by it", i, baseline[i])
		}
		out[i] = float64(subject[i]) / float64(baseline[i])
	}
	return out, nil
}

// millis turns durations into milliseconds for summaries of raw times.
func millis(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}
