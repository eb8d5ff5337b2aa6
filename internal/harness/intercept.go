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
	return s.r.send(s.c, s.ctx, m, s.ClientStream.SendMsg)
}

func (s *clientStream) RecvMsg(m any) error {
	return s.r.recv(s.c, s.ctx, m, func(m any) error {
		err := s.ClientStream.RecvMsg(m)
		if err != nil {
			s.stop() // the call has ended for the client: its context may end now
		}
		return err
	})
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

func (s *serverStream) SendMsg(m any) error { return s.r.send(s.c, nil, m, s.ServerStream.SendMsg) }

func (s *serverStream) RecvMsg(m any) error { return s.r.recv(s.c, nil, m, s.ServerStream.RecvMsg) }

// send records a Send of either side (clientCtx is nil on the server's):
// the message, the op while it is in progress, and its failure.
func (r *recorder) send(c *call, clientCtx context.Context, m any, send func(any) error) error {
	server := clientCtx == nil
	counter, kind := &c.clientSent, opClientSend
	if server {
		counter, kind = &c.serverSent, opServerSend
	}
	n := r.bump(counter)
	r.record(c, event{server: server, kind: evSent, n: n, msg: m}, nil)
	o := r.begin(c, kind, n)
	err := send(m)
	r.end(c, o)
	if err == nil {
		return nil
	}
	if server {
		r.record(c, event{server: true, kind: evSendFailed, n: n, err: err}, func() { c.sendFailures++; c.lastSendErr = err })
	} else {
		r.record(c, event{kind: evSendFailed, n: n, err: err, why: reasonOf(clientCtx)}, nil)
	}
	return err
}

// recv records a Recv of either side, as send does.
func (r *recorder) recv(c *call, clientCtx context.Context, m any, recv func(any) error) error {
	server := clientCtx == nil
	counter, kind := &c.clientRecv, opClientRecv
	if server {
		counter, kind = &c.serverRecv, opServerRecv
	}
	n := r.read(counter) + 1
	o := r.begin(c, kind, n)
	err := recv(m)
	r.end(c, o)
	switch {
	case err == nil:
		r.record(c, event{server: server, kind: evReceived, n: n, msg: m}, func() { *counter++ })
	case isEOF(err) && server:
		r.record(c, event{server: true, kind: evEOF}, func() { c.sawEOF = true })
	case isEOF(err):
		r.record(c, event{kind: evEOF}, func() { c.clientDone = true })
	case server:
		r.record(c, event{server: true, kind: evRecvFailed, err: err}, nil)
	default:
		r.record(c, event{kind: evRecvFailed, err: err, why: reasonOf(clientCtx)}, func() { c.clientDone, c.clientErr = true, err })
	}
	return err
}

func (s *serverStream) SendHeader(md metadata.MD) error {
	s.r.record(s.c, event{server: true, kind: evHeader, md: md}, nil)
	return s.ServerStream.SendHeader(md)
}
