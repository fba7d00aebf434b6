package verbs

// Diagnostic codes. Each is a Twilio error or warning code whose published
// meaning matches the finding (looked up in Twilio's error dictionary);
// findings with no matching code use 0.
//
// Severity policy: Twilio's debugger files most 13xxx codes as warnings, but
// every one of them means Twilio ignored part of the document (a dropped
// nested verb, an attribute value replaced by its default), so the call does
// not do what the author wrote. Those are Error here so a linter fails on
// them. Warning is kept for findings that change nothing at run time:
// unknown attributes (ignored by Twilio too), unsupported SSML tags, text
// where none is expected, and combinations Twilio merely advises against.
const (
	codeNone   = 0
	codeParse  = 12100 // Document parse failure
	codeSchema = 12200 // Schema validation warning: unknown or misplaced element or attribute

	codeAMDParams = 21263 // Invalid Answering Machine Detection Parameters (AsyncAmd on a Dial noun)

	codeDialFromDial    = 13201 // Dial: Cannot Dial out from a Dial Call Segment
	codeDialMethod      = 13210
	codeDialTimeout     = 13212
	codeDialHangupStar  = 13213
	codeDialNested      = 13215 // Dial: Invalid nested element
	codeDialTimeLimit   = 13216
	codeDialRecord      = 13217
	codeDialSequential  = 13218
	codeDialAnswerOnBr  = 13219
	codeDialRingTone    = 13220
	codeNumberMethod    = 13221
	codeNumberDigits    = 13222
	codeNumberFormat    = 13223
	codeConfMuted       = 13230
	codeConfEndOnExit   = 13231
	codeConfStartEnter  = 13232
	codeConfWaitMethod  = 13234
	codeConfBeep        = 13235
	codeConfName        = 13237
	codeConfWaitVerb    = 13238 // Dial->Conference: Invalid Verb used in waitUrl TwiML
	codeConfTrim        = 13239
	codeSipMethod       = 13241
	codeGatherFinish    = 13310
	codeGatherMethod    = 13312
	codeGatherTimeout   = 13313
	codeGatherDigits    = 13314
	codeGatherNested    = 13320 // Gather: Invalid nested verb
	codeGatherSayLoop   = 13322
	codeSpeechTimeout   = 13327
	codeMaxSpeechTime   = 13328
	codePartialMethod   = 13329
	codeBargeIn         = 13332
	codeProfanity       = 13333
	codeAutoWithModel   = 13335 // speechTimeout auto cannot be used with a speech model
	codeGatherDebug     = 13336
	codeActionOnEmpty   = 13338
	codeEnhanced        = 13339
	codePlayLoop        = 13410
	codeSayLoop         = 13510
	codeSayText         = 13520 // Say: Invalid text
	codeRecordMethod    = 13610
	codeRecordTimeout   = 13611
	codeRecordMaxLength = 13612
	codeRecordFinish    = 13613
	codeTranscribe      = 13614
	codeTranscribeLen   = 13615 // Record: maxLength too high for transcription
	codePlayBeep        = 13616
	codeRecordingEvent  = 13621 // Invalid recordingStatusCallbackEvent
	codeRecordTrim      = 13699
	codeRedirectMethod  = 13710
	codePauseLength     = 13910
	codeEnqueueMethod   = 14201
	codeEnqueueWaitMeth = 14206
	codeStartNoun       = 14300 // Start: Invalid nested noun value (Start and Stop)
	codeStreamTrack     = 31941 // Stream - Invalid Track configuration
)

// isVerb reports whether name is a verb that may appear directly in
// <Response>.
func isVerb(name string) bool {
	switch name {
	case "Say", "Play", "Pause", "Gather", "Record", "Hangup", "Reject", "Redirect",
		"Leave", "Dial", "Enqueue", "Connect", "Start", "Stop", "Refer",
		"Pay", "Sms", "Echo", "AIGather", "HttpRequest":
		return true
	}
	return false
}

// isKnown reports whether name is any TwiML/TeXML voice element. Known
// elements in the wrong place are invalid nesting; other names are unknown.
func isKnown(name string) bool {
	if isVerb(name) {
		return true
	}
	switch name {
	case "Number", "Client", "Sip", "Conference", "Queue", "Sim", "Application", "WhatsApp",
		"Stream", "ConversationRelay", "VirtualAgent", "Room", "Conversation", "AiSession",
		"ConversationRelaySession", "AIAssistant", "Autopilot", "Siprec", "Transcription",
		"Recording", "Suppression", "Prompt", "Parameter", "Identity", "ApplicationSid",
		"Task", "Uri", "Headers", "Header", "Config", "Language", "Response":
		return true
	}
	return false
}

// kindAllows reports whether a top-level verb may run in a document of the
// given kind (see Kind), and if not, the code to report.
func kindAllows(kind Kind, name string) (bool, int) {
	switch kind {
	case Whisper:
		if name == "Dial" {
			return false, codeDialFromDial
		}
	case QueueURL, ConferenceWait:
		switch name {
		case "Play", "Say", "Pause", "Redirect":
			return true, 0
		}
		if kind == ConferenceWait {
			return false, codeConfWaitVerb
		}
		return false, codeSchema
	case EnqueueWait:
		switch name {
		case "Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather":
			return true, 0
		}
		return false, codeSchema
	}
	if name == "Leave" && kind != EnqueueWait {
		return false, codeNone
	}
	return true, 0
}

// kindName names a document kind in messages.
func kindName(k Kind) string {
	switch k {
	case Whisper:
		return "a Number/Client/Sip url (whisper) document"
	case QueueURL:
		return "a Queue url document"
	case EnqueueWait:
		return "an Enqueue waitUrl document"
	case ConferenceWait:
		return "a Conference waitUrl document"
	}
	return "a voice document"
}
