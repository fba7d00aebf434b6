package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readRSS returns VmRSS of pid in kB (0 when pid is 0 or unreadable).
func readRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) > 0 {
				n, _ := strconv.ParseInt(fields[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// cpuUse is CPU time used during the whole run, and while all calls
// were up.
type cpuUse struct {
	texml, self time.Duration
	steady      cpuWindow
}

// cpuWindow measures CPU use between begin and the first end: texml's,
// the load tool's, and the whole host's (every core, every process,
// interrupts included), so that the share of the other work on a shared
// machine shows.
type cpuWindow struct {
	t0, t1         time.Time
	texml0, self0  time.Duration
	texml, self    time.Duration
	host0, host    hostCPU
	started, ended bool
}

// begin starts the window.
func (c *cpuWindow) begin(pid int) {
	c.t0, c.texml0, c.self0, c.host0, c.started = time.Now(), procCPU(pid), selfCPU(), readHostCPU(), true
}

// end closes the window; only the first call after begin counts.
func (c *cpuWindow) end(pid int) {
	if !c.started || c.ended {
		return
	}
	c.t1, c.texml, c.self, c.ended = time.Now(), procCPU(pid)-c.texml0, selfCPU()-c.self0, true
	h := readHostCPU()
	c.host = hostCPU{busy: h.busy - c.host0.busy, idle: h.idle - c.host0.idle, steal: h.steal - c.host0.steal,
		softirq: h.softirq - c.host0.softirq, cores: h.cores}
}

// hostCPU is the first line of /proc/stat, in CPU time: busy is user,
// nice, system, irq and softirq; steal is time the hypervisor gave away.
type hostCPU struct {
	busy, idle, steal, softirq time.Duration
	cores                      int
}

// readHostCPU reads /proc/stat (zero when unreadable).
func readHostCPU() hostCPU {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}
	}
	var h hostCPU
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if i > 0 {
			h.cores++
			continue
		}
		v := make([]time.Duration, 8)
		for j := range v {
			n, _ := strconv.ParseInt(f[j+1], 10, 64)
			v[j] = time.Duration(n) * time.Second / 100 // USER_HZ
		}
		// user nice system idle iowait irq softirq steal
		h.busy = v[0] + v[1] + v[2] + v[5] + v[6]
		h.idle = v[3] + v[4]
		h.softirq = v[6]
		h.steal = v[7]
	}
	return h
}

// procCPU returns the user+system CPU time pid has used (0 if unknown).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clkTck
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// udpCounters are the host's UDP counters from /proc/net/snmp.
type udpCounters map[string]int64

// readUDPCounters returns the Udp line of /proc/net/snmp by name, or nil.
func readUDPCounters() udpCounters {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "Udp: ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		m := udpCounters{}
		for i, v := range f {
			if i < len(names) {
				m[names[i]], _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return m
	}
	return nil
}
