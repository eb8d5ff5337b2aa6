// Package clientstream is lesson 03 of the workbook: client-streaming calls,
// where the client sends many messages and the server answers once.
// README.md in this folder tells the story and lists the tasks; each TODO
// below names the task it belongs to.
package clientstream

import (
	"slices"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	// TODO(lesson 03): Task 1. Recv readings until io.EOF, passing each to
	// checkReading (it accepts every reading until Task 2) and then to add;
	// then SendAndClose the summary and return. Return any other error from
	// Recv as it is.
	return status.Error(codes.Unimplemented, "Upload is not implemented yet (lesson 03, task 1)")
}

// add counts value into summary.
func add(summary *sensorpb.Summary, value int64) {
	// TODO(lesson 03): Task 1. Update Count, Sum, Min and Max.
}

// checkReading returns nil for a reading the sensor could have made, and
// otherwise an InvalidArgument status naming the reading by its position n
// (the first reading is 1).
func checkReading(r *sensorpb.Reading, n int64) error {
	// TODO(lesson 03): Task 2. Reject a value outside
	// [MinDecicelsius, MaxDecicelsius].
	return nil
}

// Ack records the tasks a station says it has finished, as each
// acknowledgement arrives.
func (s *Server) Ack(stream sensorpb.Hub_AckServer) error {
	// TODO(lesson 03): Task 5. Recv acknowledgements until io.EOF, recording
	// each task id as it arrives; then SendAndClose an empty reply.
	return status.Error(codes.Unimplemented, "Ack is not implemented yet (lesson 03, task 5)")
}

// record adds taskID to the acknowledged tasks unless it is there already.
// Acknowledgements may repeat: a station that is unsure whether an ack
// arrived sends it again. Each Ack call runs on its own goroutine, so record
// is called concurrently, and holds s.mu.
func (s *Server) record(taskID string) {
	// TODO(lesson 03): Task 5. Append taskID to s.acked the first time only.
}
