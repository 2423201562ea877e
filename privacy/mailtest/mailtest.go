// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 that records every message it accepts, and can be told to answer 4xx, 5xx
// or drop connections, so that mail is tested over the wire, never with a stub.
// The reference site's dev mailbox is one of these servers.
package mailtest

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Mode is how the server answers.
type Mode int

// Server modes.
const (
	Accept   Mode = iota // accept and record every message
	TempFail             // answer 451 to every message
	PermFail             // answer 550 to every message
	Drop                 // close the connection when a message is sent
)

// Message is a message the server accepted.
type Message struct {
	From   string   // envelope sender
	To     []string // envelope recipients
	Raw    []byte
	Header mail.Header
	Text   string // the text/plain part, decoded
	HTML   string // the text/html part, decoded
	At     time.Time
}

// Subject returns the decoded Subject header.
func (m Message) Subject() string {
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return m.Header.Get("Subject")
	}
	return s
}

// Server is a recording SMTP server.
type Server struct {
	Addr string // host:port it listens on

	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	mode     Mode
	failFor  map[string]Mode // per-recipient override
	messages []Message
	notify   chan struct{}
}

// Start listens on 127.0.0.1:0 and serves until Close.
func Start() (*Server, error) {
	return StartAt("127.0.0.1:0")
}

// StartAt listens on addr and serves until Close.
func StartAt(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, failFor: map[string]Mode{}, notify: make(chan struct{})}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.MaxRecipients = 50
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Host and Port split Addr.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.Addr); return h }

// Port returns the port the server listens on.
func (s *Server) Port() string { _, p, _ := net.SplitHostPort(s.Addr); return p }

// SetMode changes how the server answers from now on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// FailFor makes the server answer m for messages to rcpt, whatever the mode.
func (s *Server) FailFor(rcpt string, m Mode) {
	s.mu.Lock()
	s.failFor[strings.ToLower(rcpt)] = m
	s.mu.Unlock()
}

// Messages returns a copy of every message accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// To returns the messages accepted for rcpt.
func (s *Server) To(rcpt string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		for _, t := range m.To {
			if strings.EqualFold(t, rcpt) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// Reset forgets every message accepted so far.
func (s *Server) Reset() {
	s.mu.Lock()
	s.messages = nil
	s.mu.Unlock()
}

// Wait blocks until at least n messages have been accepted or timeout passes, and
// returns the messages accepted by then.
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got, ch := len(s.messages), s.notify
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-ch:
		case <-deadline:
			return s.Messages()
		}
	}
}

func (s *Server) modeFor(rcpts []string) Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rcpts {
		if m, ok := s.failFor[strings.ToLower(r)]; ok {
			return m
		}
	}
	return s.mode
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	s.messages = append(s.messages, m)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string { return []string{"PLAIN"} }

func (x *session) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

var errDropped = errors.New("mailtest: connection dropped")

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch x.s.modeFor(x.to) {
	case TempFail:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case PermFail:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case Drop:
		x.conn.Conn().Close()
		return errDropped
	}
	m := Message{From: x.from, To: append([]string(nil), x.to...), Raw: raw, At: time.Now()}
	if pm, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.Header = pm.Header
		m.Text, m.HTML = parts(pm.Header.Get("Content-Type"), pm.Header.Get("Content-Transfer-Encoding"), pm.Body)
	}
	x.s.record(m)
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// parts walks a MIME body and returns its decoded text and HTML parts.
func parts(contentType, encoding string, body io.Reader) (text, html string) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return text, html
			}
			t, h := parts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			text, html = text+t, html+h
		}
	}
	b, _ := io.ReadAll(decode(encoding, body))
	if mt == "text/html" {
		return "", string(b)
	}
	return string(b), ""
}
