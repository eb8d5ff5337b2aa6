package scaleout_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"

	"github.com/grpc-workbook/streaming/internal/harness"
	"github.com/grpc-workbook/streaming/lessons/08-scale-out/scaleoutpb"
)

func TestScaleOut_Publish_AnyReplica_OneNumbering(t *testing.T) {
	b := startBroker(t, 100)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")

	for i, r := range []*replica{a, bb, bb, a} {
		reply := r.publish(t, payload(i+1), payload(i+1))
		assert.Equal(t, i+1, int(reply.GetSeq()), "the sequence number of publish #%d, on replica %s: one numbering for every replica", i+1, r.name)
		assert.False(t, reply.GetDuplicate(), "publish #%d has a new request id: duplicate must be false", i+1)
		assert.Equal(t, r.name, reply.GetReplica(), "the replica that answered publish #%d", i+1)
	}
	assert.Equal(t, 4, int(b.state(t).Msgs), "events stored in the broker")
}

func TestScaleOut_Publish_SameRequestID_StoredOnce(t *testing.T) {
	b := startBroker(t, 100)
	a, bb := startReplica(t, b, "A"), startReplica(t, b, "B")

	first := a.publish(t, "req-1", "story")
	other := a.publish(t, "req-2", "other story")
	again := bb.publish(t, "req-1", "story")
	assert.Equal(t, 1, int(first.GetSeq()), "seq of the first publish")
	assert.Equal(t, 2, int(other.GetSeq()), "seq of a publish with another request id")
	assert.Equal(t, int(first.GetSeq()), int(again.GetSeq()), "seq of the same request id published again, on replica B: the first publish's")
	assert.True(t, again.GetDuplicate(), "the same request id again: duplicate must be true")
	assert.Equal(t, "B", again.GetReplica(), "the replica that answered the repeat")
	assert.Equal(t, 2, int(b.state(t).Msgs), "events stored after req-1, req-2, req-1: the repeat is not stored")

	// Ids and payloads are data: an empty payload is a payload.
	empty := a.publish(t, "req-3", "")
	assert.Equal(t, 3, int(empty.GetSeq()), "seq of a publish with an empty payload")
}

func TestScaleOut_Publish_RetriedAfterUnavailable_StoredOnce(t *testing.T) {
	b := startBroker(t, 100)
	lossy := startReplica(t, b, "A", func(s scaleoutpb.HubServer) scaleoutpb.HubServer { return loseReplies{s} })
	bb := startReplica(t, b, "B")

	_, err := lossy.client.Publish(harness.Context(t), &scaleoutpb.PublishRequest{RequestId: "req-1", Payload: "story"})
	harness.RequireCode(t, err, codes.Unavailable, `Publish(request_id="req-1") on replica A, whose reply the test loses`)
	retry := bb.publish(t, "req-1", "story")
	assert.Equal(t, 1, int(retry.GetSeq()), "seq of the retry on replica B: the lost first publish's")
	assert.True(t, retry.GetDuplicate(), "the retry must be reported as a duplicate: replica A stored it before its reply was lost")
	assert.Equal(t, 1, int(b.state(t).Msgs), "events stored after a publish and its retry: one")
}

func TestScaleOut_Publish_EmptyRequestID_InvalidArgument(t *testing.T) {
	b := startBroker(t, 100)
	a := startReplica(t, b, "A")

	_, err := a.client.Publish(harness.Context(t), &scaleoutpb.PublishRequest{RequestId: "", Payload: "story"})
	harness.AssertCode(t, err, codes.InvalidArgument, `Publish(request_id="")`)
	assert.Equal(t, 0, int(b.state(t).Msgs), "events stored after a refused publish")
}

func TestScaleOut_Publish_PayloadOverTheBrokersLimit_InvalidArgument(t *testing.T) {
	b := startBroker(t, 100)
	a := startReplica(t, b, "A")
	limit := int(a.nc.MaxPayload()) // headers included: the message id takes some of it

	_, err := a.client.Publish(harness.Context(t), &scaleoutpb.PublishRequest{RequestId: "req-big", Payload: strings.Repeat("x", limit+1)})
	harness.AssertCode(t, err, codes.InvalidArgument, fmt.Sprintf("Publish of %d bytes, one over the broker's limit", limit+1))
	assert.Equal(t, 0, int(b.state(t).Msgs), "events stored after a refused publish")

	reply := a.publish(t, "req-fits", strings.Repeat("x", limit-1024))
	assert.Equal(t, 1, int(reply.GetSeq()), "seq of a publish 1 KiB under the broker's limit, which fits with its headers")
}

func TestScaleOut_Publish_BrokerUnreachable_Unavailable(t *testing.T) {
	b := startBroker(t, 100)
	a := startReplica(t, b, "A")

	a.nc.Close() // the replica's connection to the broker is gone
	_, err := a.client.Publish(harness.Context(t), &scaleoutpb.PublishRequest{RequestId: "req-1", Payload: "story"})
	harness.AssertCode(t, err, codes.Unavailable, `Publish(request_id="req-1") on a replica whose broker connection is closed`)
}
