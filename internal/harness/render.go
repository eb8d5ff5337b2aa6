package harness

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// This file turns a recorder into the text a failing test prints: the
// transcript of its calls, with the messages formatted only now, and the
// report of what was in progress when it failed (written by diagnose.go at
// that moment, kept here as text).

// freeze is what was in progress when the test first failed.
type freeze struct {
	reason string
	at     int    // events recorded before it
	report string // the diagnosis, written then
	told   bool   // the failure message holds the report
}

// freeze notes, once, what is in progress at now, and returns the report.
func (r *recorder) freeze(reason string, now time.Time, told bool) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen != nil {
		return ""
	}
	r.frozen = &freeze{reason: reason, at: r.total, report: report(r.calls, now), told: told}
	return r.frozen.report
}

// render is the transcript; of names the server when a test started more
// than one ("of server 2 of 2"), or is "".
func (r *recorder) render(of string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		if of != "" {
			return "gRPC transcript " + of + ": no RPC reached this server.\n"
		}
		return "gRPC transcript: this test made no RPC through the harness.\n"
	}
	var b strings.Builder
	if of != "" {
		of += " "
	}
	b.WriteString("gRPC transcript " + of + "(→ sent, ← received; in the order it happened):\n")
	multi := len(r.calls) > 1
	for _, c := range r.calls {
		fmt.Fprintf(&b, "  call %d: %s (%s)\n", c.n, c.method, c.shape)
	}
	events := append(append([]event(nil), r.head...), r.tail...)
	sort.Slice(events, func(i, j int) bool { return events[i].seq < events[j].seq })
	next, marked := 0, false // next: the seq of the event expected next
	for _, e := range events {
		if e.seq > next {
			fmt.Fprintf(&b, "  ... %d events not shown ...\n", e.seq-next)
		}
		if f := r.frozen; f != nil && !marked && e.seq >= f.at {
			fmt.Fprintf(&b, "  ---- the test failed here (%s); the lines below came after ----\n", f.reason)
			marked = true
		}
		fmt.Fprintf(&b, "  %s%-6s %s\n", callTag(e.call, multi), sideName(e.server), e.text(r.calls[e.call-1]))
		next = e.seq + 1
	}
	if f := r.frozen; f != nil && f.report != "" {
		if f.told {
			b.WriteString("(What was still in progress when the test failed is in its failure message above.)\n")
		} else {
			fmt.Fprintf(&b, "When the test failed (%s):\n%s", f.reason, f.report)
		}
	}
	return b.String()
}

// text is the transcript line of e, a part of call c.
func (e event) text(c *call) string {
	switch e.kind {
	case evOpened:
		return "opened the stream"
	case evOpenFailed:
		return "could not open the stream: " + Describe(e.err)
	case evRequest:
		if e.server {
			return "← request   " + render(e.msg) + "  (handler starts)"
		}
		return "→ request   " + render(e.msg)
	case evReply:
		if e.server {
			return "→ reply     " + render(e.msg) + "  (handler returned)"
		}
		return "← reply     " + render(e.msg) + "  (status OK)"
	case evStatus:
		return "← status    " + Describe(e.err) + ctxNote(e.why)
	case evSent:
		return fmt.Sprintf("→ Send #%d   %s", e.n, render(e.msg))
	case evSendFailed:
		hint := ""
		if !e.server && isEOF(e.err) {
			hint = " (the stream has ended; its status comes from Recv or CloseAndRecv)"
		}
		return fmt.Sprintf("  Send #%d failed: %s%s%s", e.n, Describe(e.err), hint, ctxNote(e.why))
	case evReceived:
		return fmt.Sprintf("← Recv #%d   %s", e.n, render(e.msg))
	case evEOF:
		if e.server {
			return "← Recv      io.EOF: the client half-closed (CloseSend)"
		}
		return "← Recv      io.EOF: the stream ended with status OK"
	case evRecvFailed:
		if e.server {
			return "← Recv      failed: " + Describe(e.err)
		}
		return "← Recv      status " + Describe(e.err) + ctxNote(e.why)
	case evCloseSend:
		return "CloseSend   (half-close: the client will send no more)"
	case evHeader:
		if e.server {
			return "→ headers   " + renderMD(e.md)
		}
		return "← headers   " + renderMD(e.md)
	case evHeaderFailed:
		return "← Header failed: " + Describe(e.err)
	case evContextEnded:
		return "its context " + e.why.String()
	case evStarted:
		return "handler " + shortMethod(c.method) + " started"
	case evReturned:
		if e.err == nil {
			return "handler returned: status OK"
		}
		return "handler returned status " + Describe(e.err)
	}
	return fmt.Sprintf("event %d", e.kind)
}

func (w endReason) String() string {
	switch w {
	case endCancelled:
		return "was cancelled"
	case endDeadline:
		return "reached its deadline"
	case endFailSafe:
		return fmt.Sprintf("reached the harness's fail-safe deadline (CallTimeout, %v)", CallTimeout)
	case endTestEnded:
		return "ended with the test"
	}
	return "is live"
}

// ctxNote says why a client's call failed when its own context ended.
func ctxNote(why endReason) string {
	if why == endNone {
		return ""
	}
	return "  (the client's context " + why.String() + ")"
}

func sideName(server bool) string {
	if server {
		return "server"
	}
	return "client"
}

func callTag(n int, multi bool) string {
	if multi {
		return fmt.Sprintf("[%d] ", n)
	}
	return ""
}

const maxMessage = 120

// render shows a message on one line, cut to maxMessage characters.
func render(m any) string {
	var s string
	if pm, ok := m.(proto.Message); ok {
		s = prototext.MarshalOptions{}.Format(pm)
	} else {
		s = fmt.Sprintf("%v", m)
	}
	s = strings.Join(strings.Fields(s), " ") // prototext may add spacing of its own
	if s == "" {
		s = "{}"
	}
	if utf8.RuneCountInString(s) > maxMessage {
		s = string([]rune(s)[:maxMessage]) + "…"
	}
	return s
}

func renderMD(md metadata.MD) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "keys " + strings.Join(keys, ", ")
}

func shortMethod(full string) string {
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[i+1:]
	}
	return full
}
