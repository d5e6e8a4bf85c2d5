package delivery_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/callhook/callhook/core/delivery"
)

// BenchmarkSenderSend: one webhook attempt over a kept connection to a
// minimal loopback receiver, over the wire and over net/http.
func BenchmarkSenderSend(b *testing.B) {
	url := benchServer(b)
	body := []byte(`{"event_type":"call_init","caller":"+905321234567","callee":"08508850000","uuid":"8d2f3c0e-8a8b-4c44-9d1e-2b7f1c6a5e10","direction":"IN"}`)
	for _, bc := range []struct {
		name string
		opts []delivery.SenderOption
	}{
		{"wire", nil},
		{"net-http", []delivery.SenderOption{delivery.WithSenderNetHTTP()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := delivery.NewSender(bc.opts...)
			// As a Dispatcher sends: under a cancellable ctx, with the
			// header Receivers make for an attempt.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := delivery.Request{ID: "w1", Receiver: "crm", URL: url + "/hooks/bulutfon", Body: body, Header: http.Header{
				"Content-Type":           {"application/json"},
				delivery.HeaderWebhookID: {"w1"},
				"User-Agent":             {delivery.DefaultUserAgent},
			}}
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if res := s.Send(ctx, r); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
			if cpu > 0 {
				// Wall time per op hides what two sides on two cores
				// overlap; the CPU the process spent (client, receiver
				// and kernel) is the cost a busy engine pays.
				b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// benchServer is a loopback receiver that costs as little as it can (no
// allocation per request), so the benchmark weighs the client: it answers
// every request on a connection with the same 200.
func benchServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				buf := make([]byte, 64<<10)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					// Answer each complete request in the buffer.
					for {
						end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if end < 0 {
							break
						}
						size := end + 4 + contentLength(buf[:end])
						if size > n {
							break
						}
						if _, err := c.Write(answer); err != nil {
							return
						}
						n = copy(buf, buf[size:n])
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func contentLength(head []byte) int {
	i := bytes.Index(head, []byte("\r\nContent-Length: "))
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range head[i+len("\r\nContent-Length: "):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
