package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// RequestParentalConsent asks a parent to agree that their child, under 13, may
// register (P5). Only the parent's address is stored: nothing about the child. The
// parent gets a link to approve or refuse; the returned code is shown to the child,
// who enters it on the registration form once the parent has approved. A request
// with no answer is deleted after Config.ParentalRetention.
//
// Returns ErrInvalid (field "parent_email") for a bad address.
func (s *Service) RequestParentalConsent(ctx context.Context, parentEmail string) (code string, err error) {
	parent, err := privacy.NormalizeEmail(parentEmail)
	if err != nil {
		return "", privacy.Invalid("parent_email", "%s", web.Describe(err).Error.Message)
	}
	now := s.now()
	token, tokenHash, err := s.newToken()
	if err != nil {
		return "", err
	}
	code, codeHash, err := s.newToken()
	if err != nil {
		return "", err
	}
	id, err := s.newID()
	if err != nil {
		return "", err
	}
	p := ParentalRequest{ID: id, ParentEmail: parent, TokenHash: tokenHash, CodeHash: codeHash, Created: now}
	err = s.store.Do(ctx, func(ctx context.Context) error {
		if err := s.store.CreateParental(ctx, p); err != nil {
			return err
		}
		return s.send(ctx, PurposeParentalConsent, parent, "parental-ask",
			mailData{Link: s.link("/parental", token), Retention: spanOf(s.cfg.ParentalRetention)})
	})
	if err != nil {
		return "", err
	}
	return code, nil
}

// approvedRequest returns the approved, unused request for a child's code, or
// ErrInvalid naming the field "consent_code".
func (s *Service) approvedRequest(ctx context.Context, code string) (ParentalRequest, error) {
	invalid := privacy.Invalid("consent_code", "this code is not valid, or your parent has not agreed yet")
	if checkToken("consent_code", code) != nil {
		return ParentalRequest{}, invalid
	}
	req, err := s.store.ParentalByCode(ctx, hashToken(code))
	if errors.Is(err, privacy.ErrNotFound) || err == nil && (req.Approved.IsZero() || req.AccountID != "") {
		return ParentalRequest{}, invalid
	}
	return req, err
}

// AnswerParental records a parent's answer given through the mailed link. Approving
// lets the child finish registering with their code; the consent record is written
// when the child's account is created. Refusing deletes the request, and with it
// the parent's address; refusing after the child registered (the link in the
// confirmation mail) deletes the child's account too and records the withdrawal.
//
// Returns ErrInvalid (field "token") for a malformed link and ErrGone for a request
// that no longer exists.
func (s *Service) AnswerParental(ctx context.Context, token string, approve bool) error {
	if err := checkToken("token", token); err != nil {
		return err
	}
	req, err := s.store.ParentalByToken(ctx, hashToken(token))
	if errors.Is(err, privacy.ErrNotFound) {
		return privacy.Errorf(privacy.ErrGone, "this request has expired or was already answered")
	}
	if err != nil {
		return err
	}
	if approve {
		return s.store.ApproveParental(ctx, req.ID, s.now())
	}
	if req.AccountID != "" {
		if _, err := s.store.DeleteAccount(ctx, req.AccountID); err != nil && !errors.Is(err, privacy.ErrNotFound) {
			return err
		}
		if _, err := s.cfg.Consents.Record(ctx, req.ParentEmail, PurposeParentalConsent, false, "parental-consent-link"); err != nil {
			return err
		}
	}
	err = s.store.DeleteParental(ctx, req.ID)
	if errors.Is(err, privacy.ErrNotFound) {
		return nil
	}
	return err
}

// SendParentalConfirmations sends the second, delayed message of "email plus"
// consent: Config.ParentalConfirmDelay after a parent approved, a confirmation
// with a fresh link to withdraw. It returns how many it sent. Run calls it.
func (s *Service) SendParentalConfirmations(ctx context.Context) (int, error) {
	now := s.now()
	due, err := s.store.ParentalDue(ctx, now.Add(-s.cfg.ParentalConfirmDelay), 100)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, req := range due {
		token, hash, err := s.newToken()
		if err != nil {
			return sent, err
		}
		req.TokenHash = hash
		err = s.store.Do(ctx, func(ctx context.Context) error {
			if err := s.store.ConfirmParental(ctx, req.ID, now, hash); err != nil {
				return err
			}
			return s.send(ctx, PurposeParentalConsent, req.ParentEmail, "parental-confirm",
				mailData{Link: s.link("/parental", token), Approved: req.Approved})
		})
		switch {
		case errors.Is(err, privacy.ErrGone):
			continue
		case err != nil:
			return sent, err
		}
		sent++
	}
	return sent, nil
}

// Run sends due parental confirmations every minute until ctx is done. Run it in
// one goroutine per process; several processes may run it at once.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if _, err := s.SendParentalConfirmations(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "parental confirmations", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
