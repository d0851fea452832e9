package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// cpuMask is a Linux cpu_set_t of up to 1024 CPUs.
type cpuMask [16]uint64

// usableCPUs lists the CPUs this process may run on (sched_getaffinity(2)).
func usableCPUs() ([]int, error) {
	var m cpuMask
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m))); e != 0 {
		return nil, e
	}
	var out []int
	for i := range len(m) * 64 {
		if m[i/64]&(1<<(i%64)) != 0 {
			out = append(out, i)
		}
	}
	return out, nil
}

// pinProcess sets the CPU affinity of every thread of process pid to
// cpus (sched_setaffinity(2) is per thread; a thread created later
// inherits its creator's mask, so the whole process stays on cpus).
// It goes over the threads twice, for one created meanwhile.
func pinProcess(pid int, cpus []int) error {
	var m cpuMask
	for _, c := range cpus {
		if c < 0 || c >= len(m)*64 {
			return fmt.Errorf("cpu %d out of range", c)
		}
		m[c/64] |= 1 << (c % 64)
	}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	for range 2 {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
			if e != 0 && e != syscall.ESRCH { // ESRCH: the thread has ended
				return fmt.Errorf("sched_setaffinity(%d): %w", tid, e)
			}
		}
	}
	return nil
}

// runQueueWait is the time the live threads of this process have spent
// runnable, waiting for a CPU (the second field of each thread's
// /proc/self/task/TID/schedstat, in nanoseconds); 0 if unreadable.
func runQueueWait() time.Duration {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	var total int64
	for _, t := range tasks {
		raw, err := os.ReadFile("/proc/self/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(raw)); len(f) >= 2 {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				total += n
			}
		}
	}
	return time.Duration(total)
}
