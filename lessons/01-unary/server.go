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
type Server struct {
	greeterpb.UnimplementedGreeterServer

	arrivals <-chan string // guests' names as they walk in; AwaitGuest reads it

	mu      sync.Mutex
	greeted map[string]bool // guests greeted and not yet seen off
}

// NewServer returns a Greeter whose AwaitGuest takes guests from arrivals.
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
	// TODO(lesson 01): Task 2. Greet req's guest and remember them.
	// TODO(lesson 01): Task 3. Reject an empty or too-long name first.
	return nil, status.Error(codes.Unimplemented, "SayHello is not implemented yet (lesson 01, tasks 2 and 3)")
}

// validateName returns nil for a usable name, and otherwise a status error
// with codes.InvalidArgument that tells the caller what to fix.
func validateName(name string) error {
	// TODO(lesson 01): Task 3. Check for an empty name and for one longer than
	// MaxNameLength characters.
	// TODO(lesson 01): Task 6. Make each rejection carry an
	// errdetails.BadRequest that names the field "name".
	return nil
}

// SayGoodbye sees off a guest greeted earlier ("Goodbye, Ada!").
func (s *Server) SayGoodbye(ctx context.Context, req *greeterpb.GoodbyeRequest) (*greeterpb.GoodbyeReply, error) {
	// TODO(lesson 01): Task 4. Call s.forget, and turn errNeverGreeted into a
	// status the client can act on.
	return nil, status.Error(codes.Unimplemented, "SayGoodbye is not implemented yet (lesson 01, task 4)")
}

// AwaitGuest waits for the next guest to arrive and greets them. It may wait
// a long time, so it must stop as soon as its caller stops waiting.
func (s *Server) AwaitGuest(ctx context.Context, req *greeterpb.AwaitGuestRequest) (*greeterpb.HelloReply, error) {
	// TODO(lesson 01): Task 5. Wait for a name on s.arrivals, or for ctx to end.
	return nil, status.Error(codes.Unimplemented, "AwaitGuest is not implemented yet (lesson 01, task 5)")
}
