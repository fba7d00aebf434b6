// Package proctest helps tests that run subprocesses (espeak-ng,
// pocketsphinx) check that none is left behind.
package proctest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Children lists this process's child processes, running or zombie, from
// /proc, as "pid:state:comm". It is empty where /proc is not available.
func Children() []string {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := strconv.Itoa(os.Getpid())
	var kids []string
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == me {
			kids = append(kids, strings.Fields(s)[0]+":"+f[0]+":"+s[strings.IndexByte(s, '(')+1:i])
		}
	}
	return kids
}
