package bidi_test

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/grpc-workbook/streaming/internal/harness"
	bidi "github.com/grpc-workbook/streaming/lessons/04-bidi"
	"github.com/grpc-workbook/streaming/lessons/04-bidi/bidipb"
)

// leavingCalculator is the test's own Calculator. Its handler wraps the
// stream in your Reader, hands the Reader to the test, and returns at once,
// leaving the Reader's goroutine behind in Recv.
type leavingCalculator struct {
	bidipb.UnimplementedCalculatorServer
	readers chan<- *bidi.Reader[bidipb.CalcRequest]
}

func (l leavingCalculator) Calculate(stream bidipb.Calculator_CalculateServer) error {
	l.readers <- bidi.NewReader(stream.Context(), stream, harness.NewFakeClock().After)
	return nil
}

// TestBidi_Reader_LeftoverAfterHandlerReturns_SeesCanceled hands your Reader
// a server stream and lets the handler return while the Reader's goroutine is
// still in Recv. Returning from the handler ends the stream and cancels its
// context, so that leftover Recv returns codes.Canceled.
func TestBidi_Reader_LeftoverAfterHandlerReturns_SeesCanceled(t *testing.T) {
	harness.See(t, task6)
	readers := make(chan *bidi.Reader[bidipb.CalcRequest], 1)
	srv := harness.Start(t, func(s *grpc.Server) {
		bidipb.RegisterCalculatorServer(s, leavingCalculator{readers: readers})
	})
	stream, err := bidipb.NewCalculatorClient(srv.Conn).Calculate(harness.Context(t))
	require.NoError(t, err)
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF, "the handler returned nil, so the client's Recv sees io.EOF")

	leftover := harness.Wait(t, readers, "the handler to hand over its Reader")
	for _, which := range []string{"first", "second"} {
		done := make(chan error, 1)
		go func() {
			_, err := leftover.Read(time.Hour) // with a clock nobody fires
			done <- err
		}()
		err := harness.Wait(t, done, "Read on a server stream whose handler has returned")
		harness.AssertCode(t, err, codes.Canceled, which+" Read on the leftover Reader after its handler returned", task6)
	}
}
