package scaleout_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/internal/harness"
)

func TestScaleOut_Resume_OnAnotherReplica_ExactlyTheMissed(t *testing.T) {
	b := startBroker(t, 100)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")
	onA := subscribe(t, a, 0)
	publishN(t, 1, 5, a, bb)
	harness.AssertEachOnceInOrder(t, "the subscriber on replica A", 1, 5, onA.messages(t, 5, "the subscriber on replica A"))

	onA.cancel() // the subscriber loses replica A
	a.srv.HandlerReturned(t, "Subscribe")
	publishN(t, 6, 5, a, bb) // published while it was away
	onB := subscribe(t, bb, 5)
	harness.AssertEachOnceInOrder(t, "the subscriber back on replica B after 5", 6, 10, onB.messages(t, 5, "the subscriber back on replica B after 5"))
	publishN(t, 11, 1, a)
	assert.Equal(t, []int{11}, onB.messages(t, 1, "the subscriber on replica B"), "the next message after the missed ones: the next one published")
}

func TestScaleOut_Resume_PositionNotKept_OutOfRange(t *testing.T) {
	b := startBroker(t, 5)
	a := startReplica(t, b, "A")
	publishN(t, 1, 10, a) // the broker keeps 6 to 10

	// The limits, on both sides.
	oldest := subscribe(t, a, 5)
	harness.AssertEachOnceInOrder(t, "a subscriber after 5, the oldest position kept", 6, 10, oldest.messages(t, 5, "the subscriber after 5"))
	latest := subscribe(t, a, 10)
	publishN(t, 11, 1, a) // now 7 to 11
	assert.Equal(t, []int{11}, latest.messages(t, 1, "the subscriber after 10"), "the events after 10, the last one")

	for _, c := range []struct {
		after   uint64
		why     string
		mention string
	}{
		{0, "from the start, but events 1 to 6 are gone", "7"},
		{5, "event 6 is gone", "7"},
		{12, "past the last event, 11", "11"},
	} {
		s := subscribe(t, a, c.after)
		err := s.requireStatus(t, codes.OutOfRange, "Subscribe(after_seq="+itoa(c.after)+"): "+c.why)
		assert.Contains(t, status.Convert(err).Message(), c.mention, "the OutOfRange message for after_seq %d must say what the broker keeps", c.after)
		a.srv.HandlerReturned(t, "Subscribe")
	}
	harness.See(t)
	assert.Equal(t, 2, b.consumers(t), "consumers in the broker: the two subscribers that streamed; none for those refused")
}
