//go:build race

package app_test

// raceMemoryFactor scales memory bounds: the race detector's shadow
// memory multiplies what every allocation costs.
const raceMemoryFactor = 3
