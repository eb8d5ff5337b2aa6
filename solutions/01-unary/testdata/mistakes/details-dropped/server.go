// Mistake: invalidName calls WithDetails but returns the status it was called
// on.
//
// Why it is wrong: WithDetails does not change its status: it returns a new
// one with the details added. The old one still has none.
//
// Caught by: TestUnary_SayHello_BadName_DetailsNameTheField

// Package unary is lesson 01 of the workbook: a Greeter service reached with
// unary calls. README.md in this folder tells the story and lists the tasks;
// each TODO below names the task it belongs to.
package unary

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
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
	name := req.GetName()
	if err := validateName(name); err != nil {
		return nil, err // already a status: pass it on as it is
	}
	s.remember(name)
	return &greeterpb.HelloReply{Message: fmt.Sprintf("Hello, %s!", name)}, nil
}

// validateName returns nil for a usable name, and otherwise the error
// invalidName makes, with a message that tells the caller what to fix.
func validateName(name string) error {
	if name == "" {
		return invalidName("name must not be empty")
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		return invalidName(fmt.Sprintf("name is %d characters long; the most allowed is %d", n, MaxNameLength))
	}
	return nil
}

// invalidName is the error for a rejected name: codes.InvalidArgument with why
// as its message, and in its details an errdetails.BadRequest that names the
// field "name", so a program can tell which field to fix without parsing why.
func invalidName(why string) error {
	st := status.New(codes.InvalidArgument, why)
	if _, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "name", Description: why}},
	}); err != nil { // only if the detail could not be marshalled
		return st.Err()
	}
	return st.Err()
}

// SayGoodbye sees off a guest greeted earlier ("Goodbye, Ada!").
func (s *Server) SayGoodbye(ctx context.Context, req *greeterpb.GoodbyeRequest) (*greeterpb.GoodbyeReply, error) {
	name := req.GetName()
	if err := s.forget(name); err != nil {
		if errors.Is(err, errNeverGreeted) {
			return nil, status.Errorf(codes.NotFound, "%q was never greeted: call SayHello first", name)
		}
		return nil, status.Errorf(codes.Internal, "seeing %q off: %v", name, err)
	}
	return &greeterpb.GoodbyeReply{Message: fmt.Sprintf("Goodbye, %s!", name)}, nil
}

// AwaitGuest waits for the next guest to arrive and greets them. It may wait
// a long time, so it must stop as soon as its caller stops waiting. Once
// arrivals is closed the desk is closed: no guest will come, and AwaitGuest
// answers codes.Unavailable.
func (s *Server) AwaitGuest(ctx context.Context, req *greeterpb.AwaitGuestRequest) (*greeterpb.HelloReply, error) {
	select {
	case name, ok := <-s.arrivals:
		if !ok {
			// A closed channel yields "" at once, forever: without ok this
			// would greet nobody ("Hello, !").
			return nil, status.Error(codes.Unavailable, "the front desk is closed")
		}
		return &greeterpb.HelloReply{Message: fmt.Sprintf("Hello, %s!", name)}, nil
	case <-ctx.Done():
		// The client cancelled, or its deadline passed. FromContextError maps
		// context.Canceled to codes.Canceled and context.DeadlineExceeded to
		// codes.DeadlineExceeded: a status, where ctx.Err() is a plain error.
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}
