package harness

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// The interceptors that record every call: one pair on the client
// connection, one on the server. Each wraps the stream it is given so that
// every Send, Recv, CloseSend and header exchange becomes an event, and
// every one in progress an op, in its recorder (record.go).

func (r *recorder) clientUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c, ctx := r.clientCall(ctx, method, shape{})
	stop := r.watch(ctx, c, false)
	r.record(c, event{kind: evRequest, msg: req}, func() { c.clientSent++ })
	o := r.begin(c, opClientUnary, 1)
	err := invoker(ctx, method, req, reply, cc, opts...)
	stop()
	r.end(c, o)
	if err != nil {
		r.record(c, event{kind: evStatus, err: err, why: reasonOf(ctx)}, func() { c.clientDone, c.clientErr = true, err })
	} else {
		r.record(c, event{kind: evReply, msg: reply}, func() { c.clientRecv++; c.clientDone = true })
	}
	return err
}

func (r *recorder) clientStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c, ctx := r.clientCall(ctx, method, shape{desc.ClientStreams, desc.ServerStreams})
	stop := r.watch(ctx, c, false)
	r.record(c, event{kind: evOpened}, nil)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		stop()
		r.record(c, event{kind: evOpenFailed, err: err}, func() { c.clientDone, c.clientErr = true, err })
		return nil, err
	}
	return &clientStream{ClientStream: cs, r: r, c: c, ctx: ctx, stop: sync.OnceFunc(stop)}, nil
}

type clientStream struct {
	grpc.ClientStream
	r    *recorder
	c    *call
	ctx  context.Context
	stop func() // stops watching the context: the client saw the end
}

func (s *clientStream) SendMsg(m any) error {
	r, c := s.r, s.c
	n := r.bump(&c.clientSent)
	r.record(c, event{kind: evSent, n: n, msg: m}, nil)
	o := r.begin(c, opClientSend, n)
	err := s.ClientStream.SendMsg(m)
	r.end(c, o)
	if err != nil {
		r.record(c, event{kind: evSendFailed, n: n, err: err, why: reasonOf(s.ctx)}, nil)
	}
	return err
}

func (s *clientStream) RecvMsg(m any) error {
	r, c := s.r, s.c
	n := r.read(&c.clientRecv) + 1
	o := r.begin(c, opClientRecv, n)
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.stop()
	}
	r.end(c, o)
	switch {
	case err == nil:
		r.record(c, event{kind: evReceived, n: n, msg: m}, func() { c.clientRecv++ })
	case isEOF(err):
		r.record(c, event{kind: evEOF}, func() { c.clientDone = true })
	default:
		r.record(c, event{kind: evRecvFailed, err: err, why: reasonOf(s.ctx)}, func() { c.clientDone, c.clientErr = true, err })
	}
	return err
}

func (s *clientStream) CloseSend() error {
	s.r.record(s.c, event{kind: evCloseSend}, func() { s.c.closedSend = true })
	return s.ClientStream.CloseSend()
}

func (s *clientStream) Header() (metadata.MD, error) {
	o := s.r.begin(s.c, opClientHeader, 0)
	md, err := s.ClientStream.Header()
	s.r.end(s.c, o)
	if err != nil {
		s.r.record(s.c, event{kind: evHeaderFailed, err: err}, nil)
	} else {
		s.r.record(s.c, event{kind: evHeader, md: md}, nil)
	}
	return md, err
}

func (r *recorder) serverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c := r.serverCall(ctx, info.FullMethod, shape{})
	r.record(c, event{server: true, kind: evRequest, msg: req}, func() { c.started = true; c.serverRecv++ })
	resp, err := r.runHandler(ctx, c, func() (any, error) { return handler(ctx, req) })
	if err != nil {
		r.record(c, event{server: true, kind: evReturned, err: err}, func() { c.returned, c.handlerErr = true, err })
	} else {
		r.record(c, event{server: true, kind: evReply, msg: resp}, func() { c.returned = true; c.serverSent++ })
	}
	return resp, err
}

func (r *recorder) serverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c := r.serverCall(ss.Context(), info.FullMethod, shape{info.IsClientStream, info.IsServerStream})
	r.record(c, event{server: true, kind: evStarted}, func() { c.started = true })
	_, err := r.runHandler(ss.Context(), c, func() (any, error) {
		return nil, handler(srv, &serverStream{ServerStream: ss, r: r, c: c})
	})
	r.record(c, event{server: true, kind: evReturned, err: err}, func() { c.returned, c.handlerErr = true, err })
	return err
}

// runHandler runs a handler as an op, watching its context.
func (r *recorder) runHandler(ctx context.Context, c *call, handler func() (any, error)) (any, error) {
	stop := r.watch(ctx, c, true)
	o := r.begin(c, opHandler, 0)
	resp, err := handler()
	stop()
	r.end(c, o)
	return resp, err
}

type serverStream struct {
	grpc.ServerStream
	r *recorder
	c *call
}

func (s *serverStream) SendMsg(m any) error {
	r, c := s.r, s.c
	n := r.bump(&c.serverSent)
	r.record(c, event{server: true, kind: evSent, n: n, msg: m}, nil)
	o := r.begin(c, opServerSend, n)
	err := s.ServerStream.SendMsg(m)
	r.end(c, o)
	if err != nil {
		r.record(c, event{server: true, kind: evSendFailed, n: n, err: err}, func() { c.sendFailures++; c.lastSendErr = err })
	}
	return err
}

func (s *serverStream) RecvMsg(m any) error {
	r, c := s.r, s.c
	n := r.read(&c.serverRecv) + 1
	o := r.begin(c, opServerRecv, n)
	err := s.ServerStream.RecvMsg(m)
	r.end(c, o)
	switch {
	case err == nil:
		r.record(c, event{server: true, kind: evReceived, n: n, msg: m}, func() { c.serverRecv++ })
	case isEOF(err):
		r.record(c, event{server: true, kind: evEOF}, func() { c.sawEOF = true })
	default:
		r.record(c, event{server: true, kind: evRecvFailed, err: err}, nil)
	}
	return err
}

func (s *serverStream) SendHeader(md metadata.MD) error {
	s.r.record(s.c, event{server: true, kind: evHeader, md: md}, nil)
	return s.ServerStream.SendHeader(md)
}
