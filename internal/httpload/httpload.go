// Package httpload holds what the load benchmarks share: reading answers off a
// keep-alive connection without net/http's client, whose own cost would hide the
// server's.
package httpload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// ReadResponse reads one HTTP/1.1 answer from rd and discards its body. It fails
// unless the status is 200 and the body has a Content-Length, and on any
// Set-Cookie header: no page of the kit sets one.
func ReadResponse(rd *bufio.Reader) error {
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status %q", bytes.TrimSpace(line))
	}
	length := -1
	for {
		line, err = rd.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok {
			switch {
			case bytes.EqualFold(k, []byte("Content-Length")):
				if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
					return err
				}
			case bytes.EqualFold(k, []byte("Set-Cookie")):
				return errors.New("a response set a cookie")
			}
		}
	}
	if length < 0 {
		return errors.New("no Content-Length")
	}
	_, err = rd.Discard(length)
	return err
}
