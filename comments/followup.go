package comments

import (
	"context"
	"errors"

	"github.com/consentkit/consentkit/privacy"
)

var (
	errBadLink     = privacy.Errorf(privacy.ErrNotFound, "this link is not valid")
	errLinkExpired = privacy.Errorf(privacy.ErrGone, "this link has expired; tick the box again with your next comment")
)

// CheckConfirmation reports whether a confirmation token can still be used, and
// changes nothing: the confirmation page's GET calls it. Returns ErrNotFound for an
// unknown or used token and ErrGone for an expired one.
func (s *Service) CheckConfirmation(ctx context.Context, token string) error {
	hash, err := parseToken(token)
	if err != nil {
		return err
	}
	sub, err := s.store.SubscriberByConfirm(ctx, hash)
	if errors.Is(err, privacy.ErrNotFound) {
		return errBadLink
	}
	if err != nil {
		return err
	}
	if !sub.Pending(s.clock()) {
		return errLinkExpired
	}
	return nil
}

// Confirm confirms the address a confirmation token was sent to: from now on,
// replies to its comments that asked for follow-up are mailed to it. Returns
// ErrNotFound for an unknown or used token and ErrGone for an expired one.
func (s *Service) Confirm(ctx context.Context, token string) error {
	hash, err := parseToken(token)
	if err != nil {
		return err
	}
	now := s.clock()
	_, err = s.store.UpdateSubscriber(ctx, SubscriberKey{ConfirmHash: hash}, func(cur Subscriber) (Subscriber, error) {
		return cur.Confirm(now)
	})
	if errors.Is(err, privacy.ErrNotFound) {
		return errBadLink
	}
	return err
}

// Stopped reports whether the address a stop token belongs to has stopped reply
// mail, and changes nothing. Returns ErrNotFound for an unknown token.
func (s *Service) Stopped(ctx context.Context, token string) (bool, error) {
	hash, err := parseToken(token)
	if err != nil {
		return false, err
	}
	sub, err := s.store.SubscriberByStop(ctx, hash)
	if errors.Is(err, privacy.ErrNotFound) {
		return false, errBadLink
	}
	if err != nil {
		return false, err
	}
	return !sub.Stopped.IsZero(), nil
}

// Stop stops every follow-up mail to the address a stop token belongs to,
// confirmations included. Stopping twice is not an error. Returns ErrNotFound for
// an unknown token.
func (s *Service) Stop(ctx context.Context, token string) error {
	return s.setStopped(ctx, token, true)
}

// Resume undoes Stop and confirms the address: the token reached only its mailbox.
// Returns ErrNotFound for an unknown token.
func (s *Service) Resume(ctx context.Context, token string) error {
	return s.setStopped(ctx, token, false)
}

func (s *Service) setStopped(ctx context.Context, token string, stopped bool) error {
	hash, err := parseToken(token)
	if err != nil {
		return err
	}
	now := s.clock()
	_, err = s.store.UpdateSubscriber(ctx, SubscriberKey{StopHash: hash}, func(cur Subscriber) (Subscriber, error) {
		return cur.SetStopped(stopped, now), nil
	})
	if errors.Is(err, privacy.ErrNotFound) {
		return errBadLink
	}
	return err
}
