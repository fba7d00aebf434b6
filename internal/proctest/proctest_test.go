package proctest

import (
	"os/exec"
	"strings"
	"testing"
)

func TestChildren(t *testing.T) {
	if len(Children()) != 0 {
		t.Skip("this test process already has children")
	}
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep binary:", err)
	}
	kids := Children()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(kids) != 1 || !strings.HasSuffix(kids[0], ":sleep") {
		t.Errorf("children = %v, want one sleep", kids)
	}
	if left := Children(); len(left) != 0 {
		t.Errorf("after Wait: %v", left)
	}
}
