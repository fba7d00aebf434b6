package audio

import "math"

// VADOptions tune a VAD. Zero fields take the defaults in brackets, chosen
// for telephone speech at typical levels of -20 to -30 dBFS.
type VADOptions struct {
	// StartMarginDB is how far above the noise floor a frame must be to
	// start speech [10 dB].
	StartMarginDB float64
	// StopMarginDB is how far above the floor a frame must stay to keep
	// speech going [5 dB]. Below StartMarginDB, so that a level hovering
	// near one threshold does not flap (hysteresis).
	StopMarginDB float64
	// MinSpeechDBFS is the quietest level ever taken for speech, however
	// low the floor: digital silence has a floor of -96 dBFS and line
	// hiss 10 dB above it is not a talker [-50 dBFS].
	MinSpeechDBFS float64
	// InitialFloorDBFS caps the floor for the first InitialFrames frames
	// [-60 dBFS], so that a talker who starts at once is heard even though
	// no pause has yet shown the real floor.
	InitialFloorDBFS float64
	// InitialFrames is how long InitialFloorDBFS applies [25, i.e.
	// 500 ms]. Kept short because a loud background counts as speech
	// until it ends.
	InitialFrames int
	// StartFrames is how many loud frames in a row start speech, to
	// ignore clicks and pops [2, i.e. 40 ms].
	StartFrames int
	// HangoverFrames is how many quiet frames speech outlasts, to bridge
	// the gaps between words [15, i.e. 300 ms].
	HangoverFrames int
	// FloorWindowFrames is the span over which the floor is the minimum
	// frame level [250, i.e. 5 s]. Longer than any run of speech without
	// a pause, so speech itself never becomes the floor.
	FloorWindowFrames int
}

// floorBlocks is how many sub-window minima the floor tracker keeps; the
// floor follows a rise in noise in steps of window/floorBlocks.
const floorBlocks = 16

// VAD is an energy-based voice activity detector for Record silence
// detection and speech endpointing. The noise floor is the minimum frame
// level over a sliding window ("minimum statistics"), so it follows a
// changing background (a car, a fan switching on) without being dragged
// up by speech. Speech starts when StartFrames frames in a row are
// StartMarginDB above the floor and ends HangoverFrames after the level
// drops below StopMarginDB above it. A VAD is not safe for concurrent use.
type VAD struct {
	o VADOptions

	blockLen   int                  // frames per floor block
	blockMin   [floorBlocks]float64 // minima of completed blocks (ring)
	seedLeft   int                  // frames InitialFloorDBFS still applies
	blocks     int                  // completed blocks held (≤ floorBlocks)
	next       int                  // ring slot the current block will fill
	curMin     float64              // minimum of the current block so far
	curFrames  int                  // frames in the current block
	floor      float64
	level      float64
	loudRun    int
	quietRun   int
	speech     bool
	aboveFloor bool
}

// NewVAD builds a VAD from o with defaults filled in.
func NewVAD(o VADOptions) *VAD {
	if o.StartMarginDB == 0 {
		o.StartMarginDB = 10
	}
	if o.StopMarginDB == 0 {
		o.StopMarginDB = 5
	}
	if o.MinSpeechDBFS == 0 {
		o.MinSpeechDBFS = -50
	}
	if o.InitialFloorDBFS == 0 {
		o.InitialFloorDBFS = -60
	}
	if o.InitialFrames <= 0 {
		o.InitialFrames = 25
	}
	if o.StartFrames <= 0 {
		o.StartFrames = 2
	}
	if o.HangoverFrames <= 0 {
		o.HangoverFrames = 15
	}
	if o.FloorWindowFrames <= 0 {
		o.FloorWindowFrames = 250
	}
	v := &VAD{o: o, blockLen: max(1, o.FloorWindowFrames/floorBlocks)}
	v.Reset()
	return v
}

// Reset forgets all audio seen, as at creation.
func (v *VAD) Reset() {
	v.blocks, v.next = 0, 0
	v.seedLeft = v.o.InitialFrames
	v.curMin, v.curFrames = math.Inf(1), 0
	v.floor = v.o.InitialFloorDBFS
	v.level = math.Inf(-1)
	v.loudRun, v.quietRun = 0, 0
	v.speech, v.aboveFloor = false, false
}

// Push takes the next frame (normally 20 ms) and reports whether the
// talker is speaking, hangover included. It does not allocate.
func (v *VAD) Push(frame []int16) (speech bool) {
	if len(frame) == 0 {
		return v.speech
	}
	v.level = frameDBFS(frame)
	v.trackFloor(v.level)

	start := max(v.floor+v.o.StartMarginDB, v.o.MinSpeechDBFS)
	stop := max(v.floor+v.o.StopMarginDB, v.o.MinSpeechDBFS)
	if v.speech {
		v.aboveFloor = v.level >= stop
		if v.aboveFloor {
			v.quietRun = 0
		} else if v.quietRun++; v.quietRun > v.o.HangoverFrames {
			v.speech, v.loudRun = false, 0
		}
		return v.speech
	}
	v.aboveFloor = v.level >= start
	if v.aboveFloor {
		if v.loudRun++; v.loudRun >= v.o.StartFrames {
			v.speech, v.quietRun = true, 0
		}
	} else {
		v.loudRun = 0
	}
	return v.speech
}

// trackFloor folds a frame level into the windowed minimum.
func (v *VAD) trackFloor(level float64) {
	v.curMin = min(v.curMin, level)
	v.curFrames++
	if v.curFrames >= v.blockLen {
		v.blockMin[v.next] = v.curMin
		v.next = (v.next + 1) % floorBlocks
		v.blocks = min(v.blocks+1, floorBlocks)
		v.curMin, v.curFrames = math.Inf(1), 0
	}
	f := v.curMin
	for i := range v.blocks {
		f = min(f, v.blockMin[i])
	}
	if v.seedLeft > 0 {
		v.seedLeft--
		f = min(f, v.o.InitialFloorDBFS)
	}
	v.floor = f
}

// Speech reports the state the last Push returned.
func (v *VAD) Speech() bool { return v.speech }

// Voiced reports whether the last frame itself was above the threshold in
// force, as opposed to being carried by hangover; TrimSilence uses it to
// find where speech really ends.
func (v *VAD) Voiced() bool { return v.aboveFloor }

// Level is the last frame's level in dBFS (a full-scale square wave is
// 0 dBFS; digital silence is -inf).
func (v *VAD) Level() float64 { return v.level }

// NoiseFloor is the current noise floor estimate in dBFS.
func (v *VAD) NoiseFloor() float64 { return v.floor }

// frameDBFS is the RMS level of frame relative to full scale. An all-zero
// frame is floored at -100 dBFS, below any real signal, to keep the
// arithmetic finite.
func frameDBFS(frame []int16) float64 {
	var sum float64
	for _, s := range frame {
		f := float64(s)
		sum += f * f
	}
	if sum == 0 {
		return -100
	}
	return 10 * math.Log10(sum/float64(len(frame))/(32768*32768))
}
