package smtp_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/smtp"
)

// relay is a scripted SMTP server that records each command with how many bytes
// of further input were already waiting when it was read: a command read with
// others behind it came in the same write as they did.
type relay struct {
	ln        net.Listener
	pipelines bool
	rcptReply atomic.Value // string: the reply to RCPT; 250 when empty
	cmds      chan string
}

func startRelay(t *testing.T, pipelines bool, rcptReply string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &relay{ln: ln, pipelines: pipelines, cmds: make(chan string, 100)}
	r.rcptReply.Store(rcptReply)
	t.Cleanup(func() { ln.Close() })
	go r.serve()
	return r
}

func (r *relay) serve() {
	c, err := r.ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	br := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	say("220 relay")
	rcptOK := true
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		r.cmds <- line + " +" + strconv.Itoa(br.Buffered())
		switch verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0]); {
		case verb == "EHLO":
			if r.pipelines {
				say("250-relay\r\n250-PIPELINING\r\n250 8BITMIME")
			} else {
				say("250-relay\r\n250 8BITMIME")
			}
		case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:"):
			say("250 ok")
		case strings.HasPrefix(strings.ToUpper(line), "RCPT TO:"):
			reply := r.rcptReply.Load().(string)
			rcptOK = reply == ""
			if rcptOK {
				say("250 ok")
			} else {
				say(reply)
			}
		case verb == "DATA":
			if !rcptOK {
				say("554 no valid recipients")
				continue
			}
			say("354 go on")
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			say("250 queued")
		case verb == "RSET":
			rcptOK = true
			say("250 ok")
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (r *relay) next(t *testing.T, prefix string) (string, int) {
	t.Helper()
	for {
		select {
		case c := <-r.cmds:
			if strings.HasPrefix(c, prefix) {
				cmd, waiting, _ := strings.Cut(c, " +")
				n, _ := strconv.Atoi(waiting)
				return cmd, n
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s command", prefix)
		}
	}
}

func dial(t *testing.T, r *relay, returnPath func(int64) string) privacy.Conn {
	port, _ := strconv.Atoi(strings.Split(r.ln.Addr().String(), ":")[1])
	tr, err := smtp.New(smtp.Config{Host: "127.0.0.1", Port: port, TLS: "none", Timeout: 5 * time.Second, ReturnPath: returnPath})
	require.NoError(t, err)
	c, err := tr.Dial(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPipelining: a relay offering PIPELINING gets MAIL, RCPT and DATA in one
// write; one that does not gets them one at a time. Envelope addresses are in
// angle brackets, the sender being the return path of the outbox message.
func TestPipelining(t *testing.T) {
	msg := campaignMessage()
	msg.ID = 42
	rp := func(id int64) string { return "bounce+" + strconv.FormatInt(id, 10) + "@bounces.example.com" }
	for _, pipelines := range []bool{true, false} {
		t.Run("PIPELINING="+strconv.FormatBool(pipelines), func(t *testing.T) {
			r := startRelay(t, pipelines, "")
			c := dial(t, r, rp)
			require.NoError(t, c.Send(context.Background(), &msg))
			mail, behind := r.next(t, "MAIL")
			assert.Equal(t, "MAIL FROM:<bounce+42@bounces.example.com> BODY=8BITMIME", mail)
			assert.Equal(t, pipelines, behind > 0, "MAIL came with RCPT and DATA behind it")
			rcpt, behind := r.next(t, "RCPT")
			assert.Equal(t, "RCPT TO:<ann@example.org>", rcpt)
			assert.Equal(t, pipelines, behind > 0, "RCPT came with DATA behind it")
		})
	}
}

// TestPipelinedRefusal: a recipient refused in a pipelined transaction is a
// permanent failure naming no address, and the connection carries the next message.
func TestPipelinedRefusal(t *testing.T) {
	r := startRelay(t, true, "550 5.1.1 <ann@example.org> no such user")
	c := dial(t, r, nil)
	msg := campaignMessage()
	err := c.Send(context.Background(), &msg)
	var de *privacy.DeliveryError
	require.True(t, errors.As(err, &de), "%v", err)
	assert.True(t, de.Permanent)
	assert.NotContains(t, err.Error(), "ann@example.org")
	r.next(t, "RSET")
	r.rcptReply.Store("")
	require.NoError(t, c.Send(context.Background(), &msg))
	r.next(t, "MAIL")
}

// TestConnectionOutlivesTimeout: Timeout bounds each message, not the connection:
// a connection kept longer than it still carries mail.
func TestConnectionOutlivesTimeout(t *testing.T) {
	r := startRelay(t, true, "")
	port, _ := strconv.Atoi(strings.Split(r.ln.Addr().String(), ":")[1])
	tr, err := smtp.New(smtp.Config{Host: "127.0.0.1", Port: port, TLS: "none", Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	c, err := tr.Dial(context.Background())
	require.NoError(t, err)
	defer c.Close()
	msg := campaignMessage()
	for range 3 {
		require.NoError(t, c.Send(context.Background(), &msg))
		time.Sleep(200 * time.Millisecond)
	}
}
