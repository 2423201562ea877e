package contact

import (
	"context"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

var (
	_ privacy.Holder   = (*Service)(nil)
	_ privacy.Exporter = (*Service)(nil)
	_ privacy.Eraser   = (*Service)(nil)
	_ privacy.Purger   = (*Service)(nil)
	_ privacy.Allower  = (*Service)(nil)
)

// holderName names the holder in exports and erasure reports.
const holderName = "contact"

// Contract implements privacy.Holder: requests, kept Config.Retention after they
// are closed, and the support purpose with the Service as its Allower.
func (s *Service) Contract() privacy.Contract {
	return privacy.Contract{
		Name: holderName,
		Categories: []privacy.Category{{Name: CategoryRequests, Description: "Messages sent through the contact form",
			Retention: s.cfg.Retention, RetentionOf: "the request is closed"}},
		Purposes: []privacy.PurposeUse{{Purpose: PurposeSupport, Allower: s,
			Description: "to answer a question you sent us through the contact form"}},
		Sections: []privacy.Section{{Heading: privacy.SectionCollected, Text: `**The contact form.** When you write to us we need your email address, so we can answer. Your
name is optional. We use the address only to answer your message.`}},
	}
}

// ExportedRequest is one request as exported to the person who sent it. Staff
// addresses are left out: they are the staff's data, not the requester's.
type ExportedRequest struct {
	Ref      string          `json:"ref"`
	Name     string          `json:"name,omitempty"`
	Email    string          `json:"email"`
	Subject  string          `json:"subject"`
	Message  string          `json:"message"`
	Category string          `json:"category,omitempty"`
	Status   Status          `json:"status"`
	Created  time.Time       `json:"created"`
	Closed   time.Time       `json:"closed,omitzero"`
	Replies  []ExportedReply `json:"replies,omitempty"`
}

// ExportedReply is one reply as exported to the requester.
type ExportedReply struct {
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// Export implements privacy.Exporter: every request subject sent, with its replies,
// oldest first, or nil when there is none. Returns ErrInvalid for a bad address.
func (s *Service) Export(ctx context.Context, subject string) (any, error) {
	addr, err := privacy.NormalizeEmail(subject)
	if err != nil {
		return nil, err
	}
	rs, err := s.cfg.Store.ByEmail(ctx, addr)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	out := make([]ExportedRequest, len(rs))
	for i, r := range rs {
		e := ExportedRequest{Ref: r.Ref, Name: r.Name, Email: r.Email, Subject: r.Subject, Message: r.Message,
			Category: r.Category, Status: r.Status, Created: r.Created, Closed: r.Closed}
		for _, rep := range r.Thread {
			e.Replies = append(e.Replies, ExportedReply{Text: rep.Text, At: rep.At})
		}
		out[i] = e
	}
	return out, nil
}

// Erase implements privacy.Eraser: every request subject sent is removed with its
// thread, open or closed; nothing is retained. Returns ErrInvalid for a bad address.
func (s *Service) Erase(ctx context.Context, subject string) (privacy.Erasure, error) {
	addr, err := privacy.NormalizeEmail(subject)
	if err != nil {
		return privacy.Erasure{}, err
	}
	n, err := s.cfg.Store.EraseEmail(ctx, addr)
	return privacy.Erasure{Holder: holderName, Removed: n}, err
}

// Purge implements privacy.Purger: requests closed longer than Config.Retention
// before now are removed with their threads. Open requests are kept.
func (s *Service) Purge(ctx context.Context, now time.Time) (int, error) {
	return s.cfg.Store.Purge(ctx, now.Add(-s.cfg.Retention))
}
