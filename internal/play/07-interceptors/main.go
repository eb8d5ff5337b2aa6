// Command 07-interceptors serves lesson 07's Telemetry service, with its
// interceptors, on a real port:
//
//	go run ./cmd/workbook play 7             # your code
//	go run ./cmd/workbook play 7 --solution  # the reference
//
// The station "roof" takes a reading every second. Every call needs a
// token: play-token may do anything, viewer-token may not Upload.
package main

import (
	"context"
	"io"
	"math"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/grpc-workbook/streaming/internal/play"
	interceptors "github.com/grpc-workbook/streaming/lessons/07-interceptors"
	"github.com/grpc-workbook/streaming/lessons/07-interceptors/interceptorspb"
)

func main() {
	play.Main(play.Lesson{
		ID:      "07-interceptors",
		New:     newServer,
		Headers: []string{"authorization: Bearer play-token"},
		Samples: map[string][]string{
			"Watch":  {`{"station": "roof"}`},
			"Upload": {`{"station": "yard", "seq": 1, "celsius": 21.5}`, `{"station": "yard", "seq": 2, "celsius": 21.25}`},
			"Latest": {`{"station": "roof"}`},
		},
		About: []string{
			`The station "roof" takes a reading every second. grpcurl -v shows Watch's header and trailer.`,
			"Tokens: play-token may do anything; viewer-token may not Upload (PermissionDenied); any other is Unauthenticated.",
			"The interceptors guard every service, reflection too: grpcurl list and describe need the -H as well.",
			"The server logs one line per call here (Task 3's interceptors).",
			"Ctrl-C stops the station (each Watch ends with OK and its trailer), then GracefulStop.",
		},
	})
}

// newServer builds the service with the lesson's interceptors and options,
// logging to log, and starts the roof station.
func newServer(log io.Writer) (*grpc.Server, func()) {
	tokens := map[string]interceptors.Caller{
		"play-token":   {Name: "you", CanUpload: true},
		"viewer-token": {Name: "a viewer"},
	}
	auth := interceptors.NewAuth(func(token string) (interceptors.Caller, bool) {
		c, ok := tokens[token]
		return c, ok
	})
	st := newStations()
	s := grpc.NewServer(interceptors.ServerOptions(log, auth)...)
	interceptorspb.RegisterTelemetryServer(s, interceptors.NewServer(st))

	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-ticker.C:
				celsius := 12 + 3*math.Sin(float64(seq)/10)
				st.Store(&interceptorspb.Reading{Station: "roof", Seq: seq, Celsius: math.Round(celsius*100) / 100})
			case <-st.stopped:
				return
			}
		}
	}()

	return s, func() {
		st.stop() // every Watch's channel closes: the streams end with OK
		<-done
		s.GracefulStop()
	}
}

// stations keeps every reading in memory, per station, and tells its
// followers about each new one. It is the Stations of the lesson.
type stations struct {
	mu       sync.Mutex
	readings map[string][]*interceptorspb.Reading // oldest first
	changed  chan struct{}                        // closed and replaced at each new reading
	stopped  chan struct{}                        // closed by stop: no more readings
}

func newStations() *stations {
	return &stations{
		readings: map[string][]*interceptorspb.Reading{"roof": nil},
		changed:  make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

func (s *stations) stop() { close(s.stopped) }

func (s *stations) Store(r *interceptorspb.Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readings[r.GetStation()] = append(s.readings[r.GetStation()], r)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *stations) Latest(station string) (*interceptorspb.Reading, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.readings[station]
	if len(all) == 0 {
		return nil, false
	}
	return all[len(all)-1], true
}

// Follow sends the station's readings numbered above after, then each new
// one, until ctx ends or the stations stop.
func (s *stations) Follow(ctx context.Context, station string, after uint64) (<-chan *interceptorspb.Reading, bool) {
	s.mu.Lock()
	_, ok := s.readings[station]
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	out := make(chan *interceptorspb.Reading)
	go func() {
		sent := 0 // how many of the station's readings were looked at
		for {
			s.mu.Lock()
			all, changed := s.readings[station][sent:], s.changed
			s.mu.Unlock()
			for _, r := range all {
				sent++
				if r.GetSeq() <= after {
					continue
				}
				select {
				case out <- r:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			case <-s.stopped:
				close(out)
				return
			}
		}
	}()
	return out, true
}
