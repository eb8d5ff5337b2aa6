// Package unary is lesson 01 of the workbook: a Greeter service reached with
// unary calls. README.md in this folder tells the story and lists the tasks;
// each TODO below names the task it belongs to.
package unary

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-workbook/streaming/lessons/01-unary/greeterpb"
)

// MaxNameLength is the longest name the Greeter accepts, counted in
// characters (runes), not bytes.
const MaxNameLength = 64

// Server is the front-desk Greeter.
//
// It embeds greeterpb.UnimplementedGreeterServer by value. Any method Server
// does not define answers codes.Unimplemented, and Server keeps compiling when
// the .proto gains a method. Embedding by value (not a pointer) means there is
// no nil pointer to forget to set.
//
// gRPC runs every call's handler on a goroutine of its own, so a Server is
// used by many goroutines at once: greeted is read and written only under mu,
// through remember and forget.
type Server struct {
	greeterpb.UnimplementedGreeterServer

	arrivals <-chan string // guests' names as they walk in; AwaitGuest reads it

	mu      sync.Mutex
	greeted map[string]bool // guests greeted and not yet seen off
}

// NewServer returns a Greeter whose AwaitGuest takes guests from arrivals.
// Closing arrivals closes the desk.
func NewServer(arrivals <-chan string) *Server {
	return &Server{arrivals: arrivals, greeted: map[string]bool{}}
}

// errNeverGreeted is what forget reports for a guest it does not know. It is
// a plain Go error: fine inside the server, but a client cannot tell it apart
// from any other failure.
var errNeverGreeted = errors.New("guest was never greeted")

// remember notes that name was greeted.
func (s *Server) remember(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.greeted[name] = true
}

// forget sees name off, or returns errNeverGreeted.
func (s *Server) forget(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.greeted[name] {
		return errNeverGreeted
	}
	delete(s.greeted, name)
	return nil
}

// SayHello greets the guest by name ("Hello, Ada!") and remembers them.
func (s *Server) SayHello(ctx context.Context, req *greeterpb.HelloRequest) (*greeterpb.HelloReply, error) {
	// TODO(lesson 01): Task 2. Check the name with validateName first (until
	// Task 3 it accepts every name), then remember the guest and greet them.
	return nil, status.Error(codes.Unimplemented, "SayHello is not implemented yet (lesson 01, task 2)")
}

// validateName returns nil for a usable name, and otherwise the error
// invalidName makes, with a message that tells the caller what to fix.
func validateName(name string) error {
	// TODO(lesson 01): Task 3. Reject an empty name, and one longer than
	// MaxNameLength characters, each with invalidName("what to fix").
	return nil
}

// invalidName is the error for a rejected name: codes.InvalidArgument with why
// as its message, and in its details an errdetails.BadRequest that names the
// field "name", so a program can tell which field to fix without parsing why.
func invalidName(why string) error {
	// TODO(lesson 01): Task 6. Add the errdetails.BadRequest to the status.
	return status.Error(codes.InvalidArgument, why)
}

// SayGoodbye sees off a guest greeted earlier ("Goodbye, Ada!").
func (s *Server) SayGoodbye(ctx context.Context, req *greeterpb.GoodbyeRequest) (*greeterpb.GoodbyeReply, error) {
	// TODO(lesson 01): Task 4. Call s.forget, and turn errNeverGreeted into a
	// status the client can act on.
	return nil, status.Error(codes.Unimplemented, "SayGoodbye is not implemented yet (lesson 01, task 4)")
}

// AwaitGuest waits for the next guest to arrive and greets them. It may wait
// a long time, so it must stop as soon as its caller stops waiting. Once
// arrivals is closed the desk is closed: no guest will come, and AwaitGuest
// answers codes.Unavailable.
func (s *Server) AwaitGuest(ctx context.Context, req *greeterpb.AwaitGuestRequest) (*greeterpb.HelloReply, error) {
	// TODO(lesson 01): Task 5. Wait for a name on s.arrivals, or for ctx to
	// end; answer codes.Unavailable if arrivals is closed.
	return nil, status.Error(codes.Unimplemented, "AwaitGuest is not implemented yet (lesson 01, task 5)")
}
