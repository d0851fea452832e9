//go:build !linux

package main

import (
	"errors"
	"time"
)

var errNoAffinity = errors.New("CPU pinning needs Linux (sched_setaffinity)")

func usableCPUs() ([]int, error) { return nil, errNoAffinity }

func pinProcess(int, []int) error { return errNoAffinity }

func runQueueWait() time.Duration { return 0 }
