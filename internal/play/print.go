package play

import (
	"fmt"
	"io"
	"net"
	"strings"
)

// PrintIntro writes where the server listens, which methods are not
// implemented yet, and a grpcurl and an evans command for each method.
// code is "yours" or "solution": whose code the program was built with.
func (p *Server) PrintIntro(w io.Writer, code string) {
	printIntro(w, code, []*Server{p})
}

// printIntro is PrintIntro for one server or several replicas of one
// lesson, which share a host and their stubs.
func printIntro(w io.Writer, code string, servers []*Server) {
	p := servers[0]
	whose := fmt.Sprintf("your code (lessons/%s)", p.Lesson.ID)
	if code == "solution" {
		whose = fmt.Sprintf("the reference solution (solutions/%s)", p.Lesson.ID)
	}
	if p.Name == "" {
		fmt.Fprintf(w, "Lesson %s, %s, serving on %s\n", p.Lesson.ID[:2], whose, p.Addr)
	} else {
		fmt.Fprintf(w, "Lesson %s, %s, serving %d replicas:\n", p.Lesson.ID[:2], whose, len(servers))
		for _, r := range servers {
			fmt.Fprintf(w, "  replica %s on %s\n", r.Name, r.Addr)
		}
	}
	host, _, _ := net.SplitHostPort(p.Addr)
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		fmt.Fprintln(w, "Only programs on this machine can call it: 127.0.0.1 is the loopback address. The server has")
		fmt.Fprintln(w, "no TLS, so play does not listen on 0.0.0.0 (every interface), where anyone on your network could call it.")
	} else {
		fmt.Fprintf(w, "Warning: %s is not a loopback address, and the server has no TLS: anyone who can reach it can call it.\n", host)
	}
	fmt.Fprintln(w, "It also serves server reflection (so grpcurl and evans need no .proto) and grpc.health.v1.Health.")

	if len(p.Stubs) > 0 {
		fmt.Fprintln(w, "\nNot implemented yet (each answers Unimplemented until you write it, then restart play):")
		for _, s := range p.Stubs {
			fmt.Fprintf(w, "  %s: %s\n", s.Method, s.Message)
		}
	}

	var grpcurlH, evansH string
	for _, h := range p.Lesson.Headers {
		k, v, _ := strings.Cut(h, ":")
		grpcurlH += fmt.Sprintf(" -H '%s: %s'", strings.TrimSpace(k), strings.TrimSpace(v))
		evansH += fmt.Sprintf(" --header '%s=%s'", strings.TrimSpace(k), strings.TrimSpace(v))
	}
	for _, p := range servers {
		if p.Name != "" {
			fmt.Fprintf(w, "\nOn replica %s (%s):\n", p.Name, p.Addr)
		}
		p.printCommands(w, grpcurlH, evansH)
	}
	fmt.Fprintln(w)
	for _, line := range p.Lesson.About {
		fmt.Fprintln(w, line)
	}
}

// printCommands writes a grpcurl and an evans command for each of p's
// methods; grpcurlH and evansH are the headers, as each tool takes them.
func (p *Server) printCommands(w io.Writer, grpcurlH, evansH string) {
	host, port, _ := net.SplitHostPort(p.Addr)
	for _, m := range p.methods {
		samples := p.Lesson.Samples[string(m.desc.Name())]
		if len(samples) == 0 {
			samples = []string{"{}"}
		}
		evans := fmt.Sprintf("echo '%s' | evans -r --host %s --port %s%s cli call %s",
			strings.Join(samples, " "), host, port, evansH, strings.Replace(m.full, "/", ".", 1))
		fmt.Fprintln(w)
		switch {
		case m.desc.IsStreamingClient():
			kind := "client stream"
			if m.desc.IsStreamingServer() {
				kind = "bidi stream"
			}
			fmt.Fprintf(w, "%s (%s: type or paste one JSON message a line; Ctrl-D closes your side)\n", m.full, kind)
			fmt.Fprintf(w, "  grpcurl -plaintext%s -d @ %s %s\n", grpcurlH, p.Addr, m.full)
			for _, s := range samples {
				fmt.Fprintf(w, "    %s\n", s)
			}
		default:
			kind := "unary"
			if m.desc.IsStreamingServer() {
				kind = "server stream"
			}
			fmt.Fprintf(w, "%s (%s)\n", m.full, kind)
			fmt.Fprintf(w, "  grpcurl -plaintext%s -d '%s' %s %s\n", grpcurlH, samples[0], p.Addr, m.full)
		}
		fmt.Fprintf(w, "  %s\n", evans)
	}
}
