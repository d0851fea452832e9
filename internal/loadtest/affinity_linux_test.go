package main

import (
	"os"
	"runtime"
	"slices"
	"testing"
)

// TestPinProcess pins every thread of this process to one CPU, reads the
// mask back, and sets it free again.
func TestPinProcess(t *testing.T) {
	all, err := usableCPUs()
	if err != nil || len(all) == 0 {
		t.Fatalf("usableCPUs: %v, %v", all, err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	one := all[len(all)-1:]
	if err := pinProcess(os.Getpid(), one); err != nil {
		t.Fatal(err)
	}
	got, err := usableCPUs()
	if restore := pinProcess(os.Getpid(), all); restore != nil {
		t.Errorf("restore: %v", restore)
	}
	if err != nil || !slices.Equal(got, one) {
		t.Errorf("pinned mask %v (%v); want %v", got, err, one)
	}
	if back, _ := usableCPUs(); !slices.Equal(back, all) {
		t.Errorf("mask after restore %v; want %v", back, all)
	}
	if err := pinProcess(os.Getpid(), []int{-1}); err == nil {
		t.Errorf("pinning to CPU -1 succeeded")
	}
}
