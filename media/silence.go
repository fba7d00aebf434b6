package media

import (
	"io"
	"time"
)

// silence is a Source of a fixed length of silence that needs no buffer,
// so a long <Pause> costs nothing per call.
type silence struct{ left int }

// Silence returns a Source of d of silence.
func Silence(d time.Duration) Source {
	return &silence{left: int(d / (time.Second / SampleRate))}
}

// Read implements Source.
func (s *silence) Read(frame []int16) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	n := min(len(frame), s.left)
	clear(frame[:n])
	s.left -= n
	if n < len(frame) {
		return n, io.EOF
	}
	return n, nil
}
