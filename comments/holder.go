package comments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// CategoryComments is the policy category the comments holder keeps: comments with
// their authors' names and addresses, and follow-up state.
const CategoryComments = "comments"

// holderName names the holder in exports and erasure reports.
const holderName = "comments"

var (
	_ privacy.Holder   = (*Service)(nil)
	_ privacy.Exporter = (*Service)(nil)
	_ privacy.Eraser   = (*Service)(nil)
	_ privacy.Purger   = (*Service)(nil)
)

// Contract implements privacy.Holder: comments, with rejected ones kept for
// Config.RejectedRetention, and the follow-up purpose with its Allower.
func (s *Service) Contract() privacy.Contract {
	return privacy.Contract{
		Name: holderName,
		Categories: []privacy.Category{{Name: CategoryComments,
			Description: fmt.Sprintf("Comments, with the name and address given (rejected comments: %s)", privacy.HumanDuration(s.cfg.RejectedRetention)),
			RetentionOf: "you delete the comment or ask us to erase it"}},
		Purposes: []privacy.PurposeUse{{Purpose: PurposeFollowUp, Allower: guard{s},
			Description: "to tell you about replies to a comment you posted, if you asked us to and confirmed your address"}},
		Sections: []privacy.Section{{Heading: privacy.SectionCollected, Text: `**Comments.** To post a comment you give a name and an email address. Your name is shown with
the comment; your email address is never shown to anyone, nor used to fetch a picture of you
from another service. If you ask to hear about replies, we first send a message to confirm the
address, and every reply notice has a link that stops them.`}},
	}
}

// ExportedComment is one comment in an export.
type ExportedComment struct {
	ID       int64     `json:"id"`
	Thread   string    `json:"thread"`
	ParentID int64     `json:"parent_id,omitempty"`
	Name     string    `json:"name"`
	Email    string    `json:"email"`
	Body     string    `json:"body"`
	Status   Status    `json:"status"`
	FollowUp bool      `json:"follow_up"`
	Created  time.Time `json:"created"`
	Edited   time.Time `json:"edited,omitzero"`
}

// ExportedFollowUp is an address's follow-up state in an export.
type ExportedFollowUp struct {
	Requested time.Time `json:"requested"`
	Confirmed time.Time `json:"confirmed,omitzero"`
	Stopped   time.Time `json:"stopped,omitzero"`
}

// Export is everything held about one address.
type Export struct {
	Comments []ExportedComment `json:"comments"`
	FollowUp *ExportedFollowUp `json:"follow_up,omitempty"`
}

// Export implements privacy.Exporter: every comment subject wrote and its follow-up
// state, or nil when nothing is held. Returns ErrInvalid for a bad address.
func (s *Service) Export(ctx context.Context, subject string) (any, error) {
	email, err := privacy.NormalizeEmail(subject)
	if err != nil {
		return nil, err
	}
	cs, err := s.store.CommentsBy(ctx, email)
	if err != nil {
		return nil, err
	}
	var out Export
	for _, c := range cs {
		out.Comments = append(out.Comments, ExportedComment{ID: c.ID, Thread: c.Thread, ParentID: c.ParentID, Name: c.Name,
			Email: c.Email, Body: c.Source, Status: c.Status, FollowUp: c.FollowUp, Created: c.Created, Edited: c.Edited})
	}
	sub, err := s.store.Subscriber(ctx, email)
	switch {
	case err == nil:
		out.FollowUp = &ExportedFollowUp{Requested: sub.Created, Confirmed: sub.Confirmed, Stopped: sub.Stopped}
	case !errors.Is(err, privacy.ErrNotFound):
		return nil, err
	}
	if len(out.Comments) == 0 && out.FollowUp == nil {
		return nil, nil
	}
	return out, nil
}

// Erase implements privacy.Eraser as Config.Erase says: it removes subject's
// comments and follow-up state, or keeps published comments' text without name or
// address (reported in Retained). Returns ErrInvalid for a bad address.
func (s *Service) Erase(ctx context.Context, subject string) (privacy.Erasure, error) {
	email, err := privacy.NormalizeEmail(subject)
	if err != nil {
		return privacy.Erasure{}, err
	}
	removed, kept, err := s.store.EraseCommenter(ctx, email, s.cfg.Erase == EraseKeepText)
	res := privacy.Erasure{Holder: holderName, Removed: removed}
	if kept > 0 {
		res.Retained = append(res.Retained, fmt.Sprintf(
			"%d published comment(s): the text is kept under the name %q with no name, address or avatar, as the site's erase setting says", kept, DeletedName))
	}
	return res, err
}

// Purge implements privacy.Purger: rejected comments RejectedRetention after their
// rejection, follow-up requests never confirmed once they expired, and the
// records of spent form stamps once the stamps expired.
func (s *Service) Purge(ctx context.Context, now time.Time) (int, error) {
	n, err := s.store.PurgeRejected(ctx, now.Add(-s.cfg.RejectedRetention))
	if err != nil {
		return n, err
	}
	m, err := s.store.PurgeSubscribers(ctx, now)
	if err != nil {
		return n + m, err
	}
	// Stamps are no personal data and not counted as purged records.
	_, err = s.store.PurgeStamps(ctx, now)
	return n + m, err
}
