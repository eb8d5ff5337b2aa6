// Mistake: Ack returns nil when Recv fails.
//
// Why it is wrong: An error from Recv other than io.EOF means the call
// broke (the station cancelled): returning nil reports a success that did
// not happen. Return the error Recv gave.
//
// Caught by: TestClientStream_Ack_CallBreaks_KeepsWhatArrived

// Package clientstream is lesson 03 of the workbook: client-streaming calls,
// where the client sends many messages and the server answers once.
// README.md in this folder tells the story and lists the tasks; each TODO
// below names the task it belongs to.
package clientstream

import (
	"errors"
	"io"
	"slices"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/grpc-workbook/streaming/lessons/03-client-stream/sensorpb"
)

// The range the station's sensor can measure, in tenths of a degree Celsius.
// A reading outside it is a broken sensor or a bug, never the weather.
const (
	MinDecicelsius = -500 // -50.0 °C
	MaxDecicelsius = 600  // 60.0 °C
)

// Server is the hub the weather stations report to.
type Server struct {
	sensorpb.UnimplementedHubServer

	mu    sync.Mutex
	acked []string        // task ids in the order they were first acknowledged
	seen  map[string]bool // the same ids, for a quick "already have it?"
}

// NewServer returns a hub that has recorded no acknowledgements yet.
func NewServer() *Server {
	return &Server{seen: map[string]bool{}}
}

// Acked returns the ids of the acknowledged tasks, each once, in the order
// their first acknowledgement arrived. (Given: you do not need to change it.)
func (s *Server) Acked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acked)
}

// Upload reads a station's readings until the station says it is done, then
// answers with their summary.
func (s *Server) Upload(stream sensorpb.Hub_UploadServer) error {
	summary := &sensorpb.Summary{}
	for {
		reading, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			// The client called CloseAndRecv: every reading is in. Send the
			// one reply, then return nil; without SendAndClose the client
			// gets codes.Internal ("received no response message").
			return stream.SendAndClose(summary)
		}
		if err != nil {
			// The stream broke (the client cancelled, or its deadline
			// passed). err is already a status error; there is nobody left
			// to send a summary to.
			return err
		}
		if err := checkReading(reading, summary.Count+1); err != nil {
			return err
		}
		add(summary, reading.GetDecicelsius())
	}
}

// add counts value into summary.
func add(summary *sensorpb.Summary, value int64) {
	if summary.Count == 0 {
		// The first reading is both the lowest and the highest so far.
		// Starting from 0 instead would make min wrong for warm days and max
		// wrong for cold ones.
		summary.Min, summary.Max = value, value
	}
	summary.Count++
	summary.Sum += value
	summary.Min = min(summary.Min, value)
	summary.Max = max(summary.Max, value)
}

// checkReading returns nil for a reading the sensor could have made, and
// otherwise an InvalidArgument status naming the reading by its position n
// (the first reading is 1).
func checkReading(r *sensorpb.Reading, n int64) error {
	v := r.GetDecicelsius()
	if v < MinDecicelsius || v > MaxDecicelsius {
		return status.Errorf(codes.InvalidArgument,
			"reading %d: decicelsius %d is out of range [%d, %d]", n, v, MinDecicelsius, MaxDecicelsius)
	}
	return nil
}

// Ack records the tasks a station says it has finished, as each
// acknowledgement arrives.
func (s *Server) Ack(stream sensorpb.Hub_AckServer) error {
	for {
		ack, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&emptypb.Empty{})
		}
		if err != nil {
			// The station hung up or ran out of time. What was recorded
			// stays recorded: each ack counted the moment it arrived.
			return nil
		}
		if ack.GetTaskId() == "" {
			return status.Error(codes.InvalidArgument, "acknowledgement with an empty task_id: say which task is done")
		}
		s.record(ack.GetTaskId())
	}
}

// record adds taskID to the acknowledged tasks unless it is there already.
// Acknowledgements may repeat: a station that is unsure whether an ack
// arrived sends it again. Each Ack call runs on its own goroutine, so record
// is called concurrently, and holds s.mu.
func (s *Server) record(taskID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[taskID] {
		return
	}
	s.seen[taskID] = true
	s.acked = append(s.acked, taskID)
}
