package bounce

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/consentkit/consentkit/privacy"
)

// Store is what the Receiver needs of the outbox: privacy.OutboxStore has both.
type Store interface {
	Recipient(ctx context.Context, id int64) (string, error)
	Suppress(ctx context.Context, addr, reason string, now time.Time) error
}

// Receiver is the SMTP server that bounces and feedback reports are sent to. Zero
// fields take the defaults shown.
type Receiver struct {
	VERP     VERP
	Store    Store
	Log      *slog.Logger
	Now      func() time.Time
	Domain   string // the name it greets with; VERP.Domain
	MaxBytes int64  // 4 MiB: a DSN may carry the whole message it is about

	counts [len(kindNames)]atomic.Int64
	// unknown counts reports about messages no longer kept; refused, mail it did
	// not take (a recipient that is no return path of ours, or a malformed report).
	unknown, refused atomic.Int64
}

// Counts returns how many reports were taken, by Kind name, with "unknown" for
// those about messages no longer kept and "refused" for mail refused.
func (r *Receiver) Counts() map[string]int64 {
	out := map[string]int64{"unknown": r.unknown.Load(), "refused": r.refused.Load()}
	for k, name := range kindNames {
		out[name] = r.counts[k].Load()
	}
	return out
}

// Serve answers SMTP on ln until ctx is done, then closes it and returns nil.
func (r *Receiver) Serve(ctx context.Context, ln net.Listener) error {
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	srv := smtp.NewServer(backend{r})
	srv.Domain = r.Domain
	if srv.Domain == "" {
		srv.Domain = r.VERP.Domain
	}
	srv.MaxMessageBytes = r.MaxBytes
	if srv.MaxMessageBytes <= 0 {
		srv.MaxMessageBytes = 4 << 20
	}
	srv.MaxRecipients = 10
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		srv.Close()
		<-done
		return nil
	case err := <-done:
		return err
	}
}

type backend struct{ r *Receiver }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{r: b.r}, nil }

type session struct {
	r   *Receiver
	ids []int64
}

func (s *session) Reset()        { s.ids = nil }
func (s *session) Logout() error { return nil }

// Mail takes any sender: a DSN comes from the null path.
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	id, ok := s.r.VERP.Parse(to)
	if !ok {
		s.r.refused.Add(1)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "No such mailbox: this server takes bounces for return paths it issued, and nothing else"}
	}
	s.ids = append(s.ids, id)
	return nil
}

func (s *session) Data(body io.Reader) error {
	rep, err := Parse(body)
	// Parse may stop early: the rest must be read for the reply to be in step.
	io.Copy(io.Discard, body)
	if err != nil {
		s.r.refused.Add(1)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
			Message: "Not a delivery status notification (RFC 3464) nor a feedback report (RFC 5965): " + err.Error()}
	}
	ctx := context.Background()
	for _, id := range s.ids {
		if err := s.r.take(ctx, id, rep); err != nil {
			s.r.Log.Error("bounce", "id", id, "err", err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
	}
	return nil
}

// take applies rep to outbox message id: it suppresses the message's recipient on
// a permanent failure or a complaint.
func (r *Receiver) take(ctx context.Context, id int64, rep *Report) error {
	if rep.Kind != Permanent && rep.Kind != Complaint {
		r.counts[rep.Kind].Add(1)
		r.Log.Info("bounce report", "id", id, "kind", rep.Kind.String(), "status", rep.Status, "feedback", rep.Feedback)
		return nil
	}
	addr, err := r.Store.Recipient(ctx, id)
	if errors.Is(err, privacy.ErrNotFound) {
		r.unknown.Add(1)
		r.Log.Info("bounce for a message no longer kept", "id", id, "kind", rep.Kind.String())
		return nil
	}
	if err != nil {
		return err
	}
	reason := "bounce " + rep.Status
	if rep.Kind == Complaint {
		reason = "complaint " + rep.Feedback
	}
	now := time.Now().UTC()
	if r.Now != nil {
		now = r.Now().UTC()
	}
	if err := r.Store.Suppress(ctx, addr, reason, now); err != nil {
		return err
	}
	r.counts[rep.Kind].Add(1)
	r.Log.Warn("recipient suppressed", "id", id, "kind", rep.Kind.String(), "reason", reason)
	return nil
}
