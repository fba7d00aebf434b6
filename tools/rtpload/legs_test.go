//go:build linux && (amd64 || arm64)

package main

import (
	"encoding/binary"
	"testing"
	"time"
)

// marked builds a payload carrying stream's packet count n.
func marked(stream, n uint32) []byte {
	p := make([]byte, 160)
	putMark(p, stream, n)
	return p
}

// The end-to-end accounting: relayed packets, the ones that never came
// out, texml's silence between them, a crossed stream.
func TestRxStatsMarks(t *testing.T) {
	var r rxStats
	silence := make([]byte, 160)
	t0 := time.Unix(1000, 0)
	seq := uint16(0)
	recv := func(p []byte) {
		r.packet(seq, uint32(seq)*160, p, time.Time{}, t0.Add(time.Duration(seq)*20*time.Millisecond), true)
		seq++
	}
	recv(silence) // ringback before the bridge: not filler
	recv(marked(7, 100))
	recv(marked(7, 101))
	recv(silence) // texml had nothing to relay
	recv(marked(7, 102))
	recv(marked(7, 104)) // 103 never came out
	recv(marked(9, 1))   // another leg's audio
	recv(silence)        // after the bridge: not filler either
	if r.marked != 4 || r.e2eMissing != 1 || r.filler != 1 || r.peerSwitch != 1 || r.peer != 7 {
		t.Errorf("marked %d, missing %d, filler %d, switches %d, peer %d", r.marked, r.e2eMissing, r.filler, r.peerSwitch, r.peer)
	}
	if r.packets != 8 || r.missing != 0 || r.kernel.n != 7 || r.kernel.quantile(0.5) != 20100*time.Microsecond {
		t.Errorf("packets %d, missing %d, gaps %d, p50 %v", r.packets, r.missing, r.kernel.n, r.kernel.quantile(0.5))
	}
}

func TestCmsgTime(t *testing.T) {
	oob := make([]byte, 32)
	binary.NativeEndian.PutUint64(oob[0:], 32)  // cmsg_len
	binary.NativeEndian.PutUint32(oob[8:], 1)   // SOL_SOCKET
	binary.NativeEndian.PutUint32(oob[12:], 35) // SCM_TIMESTAMPNS
	binary.NativeEndian.PutUint64(oob[16:], 1700000000)
	binary.NativeEndian.PutUint64(oob[24:], 123)
	got, ok := cmsgTime(oob)
	if !ok || !got.Equal(time.Unix(1700000000, 123)) {
		t.Errorf("cmsgTime = %v, %v", got, ok)
	}
	if _, ok := cmsgTime(oob[:10]); ok {
		t.Error("a truncated control message parsed")
	}
}
