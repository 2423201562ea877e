package comments

import (
	"context"
	"errors"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// Managed is a comment as its author sees it through the manage link.
type Managed struct {
	Comment   Public    `json:"comment"`
	Thread    string    `json:"thread"`
	Source    string    `json:"source"`
	Status    Status    `json:"status"`
	EditUntil time.Time `json:"edit_until"`
	Editable  bool      `json:"editable"`
}

func (s *Service) managed(c Comment) Managed {
	until := c.Created.Add(s.cfg.EditWindow)
	return Managed{Comment: s.public(c), Thread: c.Thread, Source: c.Source, Status: c.Status,
		EditUntil: until, Editable: c.Status != StatusDeleted && s.clock().Before(until)}
}

func (s *Service) byManage(ctx context.Context, token string) (Comment, error) {
	hash, err := parseToken(token)
	if err != nil {
		return Comment{}, err
	}
	c, err := s.store.CommentByManage(ctx, hash)
	if err != nil {
		if errors.Is(err, privacy.ErrNotFound) {
			return Comment{}, privacy.Errorf(privacy.ErrNotFound, "this link is not valid, or the comment was deleted")
		}
		return Comment{}, err
	}
	return c, nil
}

// Manage returns the comment a manage token opens. Returns ErrNotFound for an
// unknown token or a deleted comment.
func (s *Service) Manage(ctx context.Context, token string) (Managed, error) {
	c, err := s.byManage(ctx, token)
	if err != nil {
		return Managed{}, err
	}
	return s.managed(c), nil
}

// Edit replaces the body of the comment token opens, within EditWindow of posting.
// Returns ErrNotFound for an unknown token, ErrGone once the window has passed, and
// ErrInvalid naming "body" for a bad body; the comment is unchanged on error.
func (s *Service) Edit(ctx context.Context, token, body string) (Managed, error) {
	c, err := s.byManage(ctx, token)
	if err != nil {
		return Managed{}, err
	}
	now := s.clock()
	if !now.Before(c.Created.Add(s.cfg.EditWindow)) {
		return Managed{}, privacy.Errorf(privacy.ErrGone, "a comment can be edited for %s after posting; you can still delete it", s.cfg.EditWindow)
	}
	html, err := s.checkBody(body)
	if err != nil {
		return Managed{}, err
	}
	if err := s.store.EditComment(ctx, c.ID, body, html, Digest(body), now); err != nil {
		return Managed{}, err
	}
	c.Source, c.HTML, c.Edited, c.Digest = body, html, now, Digest(body)
	return s.managed(c), nil
}

// Delete deletes the comment token opens, at any time. Returns ErrNotFound for an
// unknown token or a comment already deleted.
func (s *Service) Delete(ctx context.Context, token string) error {
	c, err := s.byManage(ctx, token)
	if err != nil {
		return err
	}
	return s.store.DeleteComment(ctx, c.ID)
}
