//go:build !linux

package main

import "errors"

var errNoAffinity = errors.New("CPU pinning needs Linux (sched_setaffinity)")

func usableCPUs() ([]int, error) { return nil, errNoAffinity }

func pinProcess(int, []int) error { return errNoAffinity }
