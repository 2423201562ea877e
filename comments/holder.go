package comments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// Category is the policy category the comments holder keeps: comments with their
// authors' names and addresses, and follow-up state.
const Category = "comments"

var (
	_ privacy.Holder   = (*Service)(nil)
	_ privacy.Exporter = (*Service)(nil)
	_ privacy.Eraser   = (*Service)(nil)
	_ privacy.Purger   = (*Service)(nil)
)

// HolderName implements privacy.Holder.
func (s *Service) HolderName() string { return "comments" }

// Categories implements privacy.Holder.
func (s *Service) Categories() []string { return []string{Category} }

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
	res := privacy.Erasure{Holder: s.HolderName(), Removed: removed}
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
