package comments

import (
	"context"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// Held is a comment as a moderator sees it in the queue: everything but the
// author's address, which only CommenterEmail returns, on the record. HTML is
// the comment as its page would show it, sanitized when it was written.
type Held struct {
	ID        int64         `json:"id"`
	Thread    string        `json:"thread"`
	ThreadURL string        `json:"thread_url"` // the page the comment belongs to (Config.ThreadURL)
	ParentID  int64         `json:"parent_id,omitempty"`
	Name      string        `json:"name"`
	Source    string        `json:"source"`
	HTML      template.HTML `json:"html"`
	Status    Status        `json:"status"`
	FollowUp  bool          `json:"follow_up"`
	Created   time.Time     `json:"created"`
	Moderated time.Time     `json:"moderated,omitzero"`
}

// Queue returns the comments with f.Status (StatusPending when empty), oldest
// first, f.Limit of them (100 when 0, at most 500) after the first f.Offset. The
// queue shows what people wrote under the names they gave, so before it returns
// it records one read for each commenter in it, naming their comments. Returns
// ErrUnauthorized or ErrForbidden unless the actor in ctx is a moderator, and
// ErrInvalid naming "status", "thread" or "offset".
func (s *Service) Queue(ctx context.Context, f QueueFilter) ([]Held, error) {
	held, _, err := s.queue(ctx, f)
	return held, err
}

// queue is Queue, also reporting whether more comments follow the ones returned.
func (s *Service) queue(ctx context.Context, f QueueFilter) (held []Held, more bool, err error) {
	if err := privacy.Require(ctx, privacy.RoleModerator); err != nil {
		return nil, false, err
	}
	if f.Status == "" {
		f.Status = StatusPending
	}
	if !f.Status.Valid() {
		return nil, false, privacy.Invalid("status", "must be pending, approved, rejected or deleted")
	}
	if f.Thread != "" {
		if err := CheckThread(f.Thread); err != nil {
			return nil, false, err
		}
	}
	if f.Offset < 0 {
		return nil, false, privacy.Invalid("offset", "must be 0 or more")
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	// One more than shown tells whether another page follows; it is not shown,
	// so its author's read is not recorded.
	ask := f
	ask.Limit++
	cs, err := s.store.Queue(ctx, ask)
	if err != nil {
		return nil, false, err
	}
	if len(cs) > f.Limit {
		cs, more = cs[:f.Limit], true
	}
	var subjects []string
	ids := map[string][]string{}
	for _, c := range cs {
		if c.Email == "" {
			continue // erased: no one is left to name
		}
		if ids[c.Email] == nil {
			subjects = append(subjects, c.Email)
		}
		ids[c.Email] = append(ids[c.Email], strconv.FormatInt(c.ID, 10))
	}
	for _, subj := range subjects {
		what := fmt.Sprintf("comments %s in the moderation queue (%s)", strings.Join(ids[subj], ", "), f.Status)
		if err := s.auditor.Record(ctx, privacy.RoleModerator, subj, what, "moderating comments"); err != nil {
			return nil, false, err
		}
	}
	out := make([]Held, len(cs))
	for i, c := range cs {
		out[i] = Held{ID: c.ID, Thread: c.Thread, ThreadURL: s.ThreadURL(c.Thread), ParentID: c.ParentID, Name: c.Name, Source: c.Source,
			HTML: template.HTML(c.HTML), Status: c.Status, FollowUp: c.FollowUp, Created: c.Created, Moderated: c.Moderated}
	}
	return out, more, nil
}

// Approve publishes comment id (pending or rejected) and, when it replies to a
// confirmed commenter who asked for follow-up, enqueues the notification in the
// same unit of work. Returns ErrUnauthorized or ErrForbidden unless the actor is a
// moderator, ErrNotFound, and ErrConflict when the comment is already approved or
// deleted.
func (s *Service) Approve(ctx context.Context, id int64) error {
	if err := privacy.Require(ctx, privacy.RoleModerator); err != nil {
		return err
	}
	c, err := s.audit(ctx, id, "approving the comment")
	if err != nil {
		return err
	}
	c.Status = StatusApproved
	return s.store.Do(ctx, func(ctx context.Context) error {
		if err := s.store.SetStatus(ctx, id, s.clock(), move(StatusApproved, StatusPending, StatusRejected)); err != nil {
			return err
		}
		return s.notifyReply(ctx, c)
	})
}

// Reject hides comment id (pending or approved) until it is purged,
// RejectedRetention later. Returns ErrUnauthorized or ErrForbidden unless the actor
// is a moderator, ErrNotFound, and ErrConflict when it is already rejected or deleted.
func (s *Service) Reject(ctx context.Context, id int64) error {
	if err := privacy.Require(ctx, privacy.RoleModerator); err != nil {
		return err
	}
	if _, err := s.audit(ctx, id, "rejecting the comment"); err != nil {
		return err
	}
	return s.store.SetStatus(ctx, id, s.clock(), move(StatusRejected, StatusPending, StatusApproved))
}

// move is the moderation rule: a comment goes to to only from one of from.
func move(to Status, from ...Status) func(Status) (Status, error) {
	return func(cur Status) (Status, error) {
		if !slices.Contains(from, cur) {
			return cur, privacy.Errorf(privacy.ErrConflict, "the comment is %s", cur)
		}
		return to, nil
	}
}

// Remove deletes comment id at once. Returns ErrUnauthorized or ErrForbidden unless
// the actor is a moderator, and ErrNotFound.
func (s *Service) Remove(ctx context.Context, id int64) error {
	if err := privacy.Require(ctx, privacy.RoleModerator); err != nil {
		return err
	}
	if _, err := s.audit(ctx, id, "deleting the comment"); err != nil {
		return err
	}
	return s.store.DeleteComment(ctx, id)
}

// audit reads comment id and records, before a moderator acts on it, the
// moderator's access to its author's comment. A comment whose address was erased
// names no one and is not recorded.
func (s *Service) audit(ctx context.Context, id int64, why string) (Comment, error) {
	c, err := s.store.Comment(ctx, id)
	if err != nil || c.Email == "" {
		return c, err
	}
	return c, s.auditor.Record(ctx, privacy.RoleModerator, c.Email, fmt.Sprintf("comment %d", id), why)
}

// CommenterEmail returns the address that wrote comment id, after writing an access
// record (who, whose address, which comment, why) through the Auditor. Returns
// ErrUnauthorized or ErrForbidden, writing nothing and returning no address, unless
// the actor is a moderator; ErrNotFound when the comment or its address is gone; and
// ErrInvalid naming "why" for a bad reason.
func (s *Service) CommenterEmail(ctx context.Context, id int64, why string) (string, error) {
	if err := privacy.Require(ctx, privacy.RoleModerator); err != nil {
		return "", err
	}
	if why == "" {
		why = "moderating comments"
	}
	if err := privacy.CheckText("why", why, 200, true); err != nil {
		return "", err
	}
	c, err := s.store.Comment(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Email == "" {
		return "", privacy.Errorf(privacy.ErrNotFound, "no address is held for this comment")
	}
	if err := s.auditor.Record(ctx, privacy.RoleModerator, c.Email, fmt.Sprintf("address of comment %d", id), why); err != nil {
		return "", err
	}
	return c.Email, nil
}

// Rerender renders every stored comment's source again with the current Renderer
// (after the sanitizing policy changed) and returns how many comments changed.
func (s *Service) Rerender(ctx context.Context) (int, error) {
	var after int64
	changed := 0
	for {
		cs, err := s.store.Comments(ctx, after, 200)
		if err != nil {
			return changed, err
		}
		if len(cs) == 0 {
			return changed, nil
		}
		for _, c := range cs {
			after = c.ID
			if c.Status == StatusDeleted || c.Source == "" {
				continue
			}
			html, err := s.render.Render(c.Source)
			if err != nil {
				return changed, fmt.Errorf("render comment %d: %w", c.ID, err)
			}
			if html == c.HTML {
				continue
			}
			if err := s.store.SetHTML(ctx, c.ID, html); err != nil {
				return changed, err
			}
			changed++
		}
	}
}
