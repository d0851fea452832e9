//go:build !race

package app_test

// raceMemoryFactor scales memory bounds: 1 without the race detector.
const raceMemoryFactor = 1
