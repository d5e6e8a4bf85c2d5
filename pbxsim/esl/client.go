package esl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// Originate asks the event socket at addr, as a CRM would, to have
// extension call number (bgapi originate user/<extension> <number> XML
// default) and returns the job's id once the switch accepted it.
func Originate(ctx context.Context, addr, password, extension, number string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("originate over event socket %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	read := func() (map[string]string, error) {
		h := map[string]string{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return nil, err
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				if len(h) == 0 {
					continue
				}
				break
			}
			k, v, _ := strings.Cut(line, ":")
			h[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
		if n, _ := strconv.Atoi(h["content-length"]); n > 0 {
			if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
				return nil, err
			}
		}
		return h, nil
	}
	if h, err := read(); err != nil || h["content-type"] != "auth/request" {
		return "", fmt.Errorf("originate over event socket %s: no auth/request greeting (%v)", addr, err)
	}
	if _, err := fmt.Fprintf(conn, "auth %s\n\n", password); err != nil {
		return "", fmt.Errorf("originate over event socket %s: %w", addr, err)
	}
	if h, err := read(); err != nil || !strings.HasPrefix(h["reply-text"], "+OK") {
		return "", fmt.Errorf("originate over event socket %s: auth refused (%v)", addr, err)
	}
	if _, err := fmt.Fprintf(conn, "bgapi originate user/%s %s XML default %s %s 30\n\n", extension, number, extension, extension); err != nil {
		return "", fmt.Errorf("originate over event socket %s: %w", addr, err)
	}
	h, err := read()
	if err != nil {
		return "", fmt.Errorf("originate over event socket %s: %w", addr, err)
	}
	if !strings.HasPrefix(h["reply-text"], "+OK") {
		return "", errors.New("originate over event socket: " + h["reply-text"])
	}
	_, _ = fmt.Fprintf(conn, "exit\n\n")
	return h["job-uuid"], nil
}
