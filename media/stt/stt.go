// Package stt recognizes the speech a caller says to <Gather
// input="speech">. Recognizer is the seam the interpreter uses; Sphinx is
// the default engine, CMU PocketSphinx run as a subprocess (the Debian
// packages pocketsphinx and pocketsphinx-en-us).
//
// Endpointing (speechTimeout, maxSpeechTime) happens before this package:
// a Request carries one utterance that voice-activity detection has
// already cut out of the call's audio.
package stt

import (
	"context"
	"errors"
)

// Request is one utterance to recognize.
type Request struct {
	// Samples is the utterance: 8 kHz mono 16-bit audio (media.SampleRate),
	// already endpointed.
	Samples []int16
	// Language is the Gather language attribute (BCP-47); "" means en-US.
	Language string
	// Hints is the Gather hints attribute: comma-separated words and
	// phrases the caller is expected to say. With hints the recognizer
	// only chooses among them, which is what makes menu words reliable.
	Hints string
}

// Result is what a Recognizer heard.
type Result struct {
	// Text is the transcript in lowercase words, "" when nothing was
	// recognized (silence, noise). It becomes SpeechResult.
	Text string
	// Confidence is in 0..1 and becomes the Confidence parameter; 0 when
	// Text is empty.
	Confidence float64
	// Warnings say what the recognizer could not honour, such as hint
	// words missing from its dictionary; the interpreter logs them.
	Warnings []string
}

// Recognizer turns an utterance into text. Implementations must be safe
// for concurrent use: every call in a Gather recognizes at once.
type Recognizer interface {
	Recognize(ctx context.Context, r Request) (Result, error)
}

// Errors a Sphinx reports. Callers test them with errors.Is.
var (
	// ErrNotInstalled means the pocketsphinx program or its en-US model
	// is missing; the message names the Debian packages to install.
	ErrNotInstalled = errors.New("pocketsphinx not found")
	// ErrLanguage means no model for the requested language is
	// installed.
	ErrLanguage = errors.New("no speech model for language")
)
