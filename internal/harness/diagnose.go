package harness

import (
	"fmt"
	"strings"
	"time"
)

// This file says, when a test fails, what each call with an operation in
// progress was doing: first only what the recorder observed (which side is
// in which operation and for how long, what each side sent and received,
// half-closes, contexts that ended), then a conclusion only where those
// observations prove it. It blamed the wrong side when it guessed, so it no
// longer guesses: where it cannot tell, it prints the observations alone,
// with no "What that means:" at all.

// settle is how long a state must have lasted before a conclusion rests on
// it: a test that fails at once can catch a call between two steps.
const settle = 250 * time.Millisecond

// report describes the calls that have an operation in progress at now ("" if
// none has). The caller holds the recorder's lock.
func report(calls []*call, now time.Time) string {
	multi := len(calls) > 1
	var ops, seen, means []string
	for _, c := range calls {
		if len(c.ops) == 0 {
			continue
		}
		tag := callTag(c.n, multi)
		for _, o := range c.ops {
			ops = append(ops, tag+c.describe(o, now))
		}
		for _, s := range c.observed(now) {
			seen = append(seen, tag+s)
		}
		for _, s := range c.conclusions(now) {
			means = append(means, tag+s)
		}
	}
	if len(ops) == 0 {
		return ""
	}
	out := "Still in progress:\n  " + strings.Join(ops, "\n  ") + "\nSeen so far:\n  " + strings.Join(seen, "\n  ") + "\n"
	if len(means) > 0 {
		out += "What that means:\n  " + strings.Join(means, "\n  ") + "\n"
	}
	return out
}

// describe says what o is doing, and for how long.
func (c *call) describe(o *op, now time.Time) string {
	var what string
	switch o.kind {
	case opClientUnary:
		what = "waiting for the reply"
	case opClientSend, opServerSend:
		what = fmt.Sprintf("Send #%d", o.n)
	case opClientRecv, opServerRecv:
		what = fmt.Sprintf("Recv, waiting for message #%d", o.n)
	case opClientHeader:
		what = "Header, waiting for the server's headers"
	case opHandler:
		what = "handler " + shortMethod(c.method) + " running"
	}
	line := fmt.Sprintf("%s: %s, for %v", sideName(o.kind.server()), what, o.age(now))
	if !o.ended.IsZero() {
		line += ", until its call's context " + o.why.String()
	}
	return line
}

// age is how long o was in progress (until it ended, for a kept op).
func (o *op) age(now time.Time) time.Duration {
	if !o.ended.IsZero() {
		now = o.ended
	}
	return round(now.Sub(o.since))
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// observed lists what each side did, one line a side.
func (c *call) observed(now time.Time) []string {
	var lines []string
	if c.client {
		parts := []string{fmt.Sprintf("sent %d, received %d", c.clientSent, c.clientRecv)}
		if c.shape.clientStreams {
			if c.closedSend {
				parts = append(parts, "called CloseSend")
			} else {
				parts = append(parts, "has not called CloseSend")
			}
		}
		if c.clientDone {
			parts = append(parts, "the call ended for it with "+statusOf(c.clientErr))
		}
		ctx := "its context is live"
		if c.clientEnd.ended() {
			ctx = fmt.Sprintf("its context %s %v ago", c.clientEnd.why, round(now.Sub(c.clientEnd.at)))
		}
		lines = append(lines, "client: "+strings.Join(append(parts, ctx), "; "))
	}
	if !c.server {
		return append(lines, "server: the handler has not started")
	}
	parts := []string{fmt.Sprintf("received %d, sent %d", c.serverRecv, c.serverSent-c.sendFailures)}
	if c.sawEOF {
		parts = append(parts, "Recv returned io.EOF (the client's CloseSend)")
	}
	if c.sendFailures > 0 {
		parts = append(parts, fmt.Sprintf("Send failed %s, the last with %s", times(c.sendFailures), Describe(c.lastSendErr)))
	}
	if c.returned {
		parts = append(parts, "the handler returned "+statusOf(c.handlerErr))
	} else {
		parts = append(parts, "the handler has not returned")
	}
	if !c.serverEnd.IsZero() {
		parts = append(parts, fmt.Sprintf("its context ended %v ago", round(now.Sub(c.serverEnd))))
	} else if !c.returned {
		parts = append(parts, "its context is live")
	}
	return append(lines, "server: "+strings.Join(parts, "; "))
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func statusOf(err error) string {
	if err == nil {
		return "status OK"
	}
	return Describe(err)
}

// conclusions says what the observations prove, and nothing else. Each rule
// names the facts it rests on; a state younger than settle proves nothing.
//
// An op kept after the harness ended its call (see op) counts as in progress
// as of that moment; the rules that say something "still" runs look only at
// ops that really are.
func (c *call) conclusions(now time.Time) []string {
	held := func(kind opKind) *op { // an op of kind in progress for settle at least
		for _, o := range c.ops {
			if o.kind == kind && o.age(now) >= settle {
				return o
			}
		}
		return nil
	}
	in := func(kind opKind) bool {
		for _, o := range c.ops {
			if o.kind == kind {
				return true
			}
		}
		return false
	}
	// The client's side of the call is on, or was when the harness ended it.
	byHarness := c.clientEnd.why == endFailSafe || c.clientEnd.why == endTestEnded
	clientOn := c.client && (byHarness || !c.clientDone && !c.clientEnd.ended())
	var out []string

	// Client-streaming: the server's Recv waits for a message or io.EOF, and
	// only the client's CloseSend brings io.EOF.
	if c.shape.clientStreams && !c.shape.serverStreams && clientOn && !c.closedSend &&
		held(opServerRecv) != nil && !in(opClientSend) {
		s := "The server's Recv returns io.EOF only after the client calls CloseSend (CloseAndRecv does both), and the client has not"
		if held(opClientRecv) != nil {
			s += ": it waits in Recv for the reply instead"
		}
		out = append(out, s+".")
	}

	// Flow control: a Send that has waited that long waits for the other
	// side to read, and the other side is not reading.
	if o := held(opServerSend); o != nil && clientOn && !in(opClientRecv) {
		out = append(out, fmt.Sprintf("The server's Send #%d has waited %v: gRPC's flow control holds a sender until the other side reads, "+
			"and the client is not in Recv.", o.n, o.age(now)))
	}
	if o := held(opClientSend); o != nil && c.started && !c.returned && !in(opServerRecv) {
		out = append(out, fmt.Sprintf("The client's Send #%d has waited %v: gRPC's flow control holds a sender until the other side reads, "+
			"and the handler is not in Recv.", o.n, o.age(now)))
	}

	// A handler must return once its context has ended.
	if c.running(opHandler) && !c.serverEnd.IsZero() && now.Sub(c.serverEnd) >= settle {
		ago := round(now.Sub(c.serverEnd))
		if c.sendFailures >= 2 {
			out = append(out, fmt.Sprintf("The handler's context ended %v ago and its Send has failed %s, yet it still runs: "+
				"it goes on after Send fails. Send's error means the call is over: return it.", ago, times(c.sendFailures)))
		} else {
			out = append(out, fmt.Sprintf("The handler's context ended %v ago, yet it still runs: a handler must return once its context ends "+
				"(ctx.Done(), or stream.Context().Done(), in every wait).", ago))
		}
	}

	// Unary: the reply is sent when the handler returns.
	if held(opClientUnary) != nil && c.serverEnd.IsZero() {
		if h := held(opHandler); h != nil {
			out = append(out, fmt.Sprintf("The client waits for the handler %s, which has run for %v: a unary reply is sent when the handler returns.",
				shortMethod(c.method), h.age(now)))
		}
	}
	return out
}

// running reports whether an op of kind is in progress now (not just kept).
func (c *call) running(kind opKind) bool {
	for _, o := range c.ops {
		if o.kind == kind && o.ended.IsZero() {
			return true
		}
	}
	return false
}
