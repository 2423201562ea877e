package newsletter

import (
	"context"
	"errors"
	"html/template"
	"math"
	"sync"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// Draft is what an editor writes: the list, the subject and the Markdown body.
type Draft struct {
	List     List   `json:"list"`
	Subject  string `json:"subject"`
	Markdown string `json:"markdown"`
}

// checkDraft validates d and renders its body. Every fault is returned, joined.
func (s *Service) checkDraft(d Draft) (html, text string, err error) {
	var errList error
	if !s.defined(d.List) {
		errList = privacy.Invalid("list", "there is no list %q", clip(string(d.List), 40))
	}
	errSubject := privacy.CheckText("subject", d.Subject, privacy.MaxSubjectLen, true)
	html, text, errBody := Render(d.Markdown)
	return html, text, errors.Join(errList, errSubject, errBody)
}

// CreateCampaign stores a draft campaign. Requires the editor role: ErrUnauthorized,
// ErrForbidden. Returns ErrInvalid naming "list", "subject" or "markdown", every fault joined.
func (s *Service) CreateCampaign(ctx context.Context, d Draft) (Campaign, error) {
	if err := privacy.Require(ctx, privacy.RoleEditor); err != nil {
		return Campaign{}, err
	}
	html, text, err := s.checkDraft(d)
	if err != nil {
		return Campaign{}, err
	}
	now := s.clock()
	c := Campaign{List: d.List, Subject: d.Subject, Markdown: d.Markdown, HTML: html, Text: text,
		Status: CampaignDraft, CreatedBy: privacy.ActorFrom(ctx).ID, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateCampaign(ctx, &c); err != nil {
		return Campaign{}, err
	}
	return c, nil
}

// UpdateCampaign replaces a draft's list, subject and body. Requires the editor role.
// Returns ErrInvalid as CreateCampaign; ErrNotFound; ErrConflict unless it is a draft.
func (s *Service) UpdateCampaign(ctx context.Context, id int64, d Draft) (Campaign, error) {
	if err := privacy.Require(ctx, privacy.RoleEditor); err != nil {
		return Campaign{}, err
	}
	html, text, err := s.checkDraft(d)
	if err != nil {
		return Campaign{}, err
	}
	return s.store.UpdateCampaign(ctx, id, func(c *Campaign) error {
		if c.Status != CampaignDraft {
			return privacy.Errorf(privacy.ErrConflict, "only a draft can be edited; this campaign is %s", c.Status)
		}
		c.List, c.Subject, c.Markdown, c.HTML, c.Text, c.UpdatedAt = d.List, d.Subject, d.Markdown, html, text, s.clock()
		return nil
	})
}

// Campaign returns campaign id. Requires the editor role. Returns ErrNotFound.
func (s *Service) Campaign(ctx context.Context, id int64) (Campaign, error) {
	if err := privacy.Require(ctx, privacy.RoleEditor); err != nil {
		return Campaign{}, err
	}
	return s.store.Campaign(ctx, id)
}

// Campaigns returns the latest 100 campaigns, newest first. Requires the editor role.
func (s *Service) Campaigns(ctx context.Context) ([]Campaign, error) {
	if err := privacy.Require(ctx, privacy.RoleEditor); err != nil {
		return nil, err
	}
	return s.store.Campaigns(ctx, 100)
}

// Schedule queues a draft to be sent at at (now, when at is zero or past). Run or
// SendDue sends it then. Requires the editor role. Returns ErrNotFound; ErrConflict
// unless it is a draft.
func (s *Service) Schedule(ctx context.Context, id int64, at time.Time) (Campaign, error) {
	if err := privacy.Require(ctx, privacy.RoleEditor); err != nil {
		return Campaign{}, err
	}
	now := s.clock()
	if at.IsZero() || at.Before(now) {
		at = now
	}
	return s.store.UpdateCampaign(ctx, id, func(c *Campaign) error {
		if c.Status != CampaignDraft {
			return privacy.Errorf(privacy.ErrConflict, "only a draft can be scheduled; this campaign is %s", c.Status)
		}
		c.Status, c.SendAt, c.UpdatedAt = CampaignScheduled, at.UTC(), now
		return nil
	})
}

// Cancel stops a scheduled or sending campaign: no further recipient is enqueued.
// Messages already in the outbox are still delivered. Requires the editor role.
// Returns ErrNotFound; ErrConflict for a draft, sent or cancelled campaign.
func (s *Service) Cancel(ctx context.Context, id int64) (Campaign, error) {
	if err := privacy.Require(ctx, privacy.RoleEditor); err != nil {
		return Campaign{}, err
	}
	now := s.clock()
	return s.store.UpdateCampaign(ctx, id, func(c *Campaign) error {
		if c.Status != CampaignScheduled && c.Status != CampaignSending {
			return privacy.Errorf(privacy.ErrConflict, "only a scheduled or sending campaign can be cancelled; this one is %s", c.Status)
		}
		c.Status, c.UpdatedAt, c.FinishedAt = CampaignCancelled, now, now
		return nil
	})
}

// TestSend mails campaign id, exactly as a member would get it, to an operator
// address (the editor's own inbox). Requires the editor role. Returns ErrInvalid
// naming "to" for an address outside the operator's domains; ErrNotFound.
func (s *Service) TestSend(ctx context.Context, id int64, to string) error {
	if err := privacy.Require(ctx, privacy.RoleEditor); err != nil {
		return err
	}
	addr, err := privacy.NormalizeEmail(to)
	if err != nil {
		return privacy.Invalid("to", "this is not an email address")
	}
	if !s.policy.IsOperatorAddress(addr) {
		return privacy.Invalid("to", "a test is sent only to an address of the operator's own domains")
	}
	c, err := s.store.Campaign(ctx, id)
	if err != nil {
		return err
	}
	m, err := s.mailFor(c)
	if err != nil {
		return err
	}
	msg, err := s.campaignMessage(c, m, Recipient{Email: addr}, "test")
	if err != nil {
		return err
	}
	if msg.Subject, err = subject(s.tm, "test-subject", c.Subject); err != nil {
		return err
	}
	msg.DataSubject, msg.Ref = "", ""
	_, err = s.mailer.Send(ctx, msg)
	return err
}

// mailFor renders c's mail once, for every recipient.
func (s *Service) mailFor(c Campaign) (mailTemplate, error) {
	return newMailTemplate(s.tm, mailParts{Subject: c.Subject, Operator: s.policy.Operator, List: c.List,
		Body: template.HTML(c.HTML), Text: c.Text})
}

// campaignMessage builds the message of c to r, with r's own unsubscribe link.
func (s *Service) campaignMessage(c Campaign, m mailTemplate, r Recipient, token string) (privacy.Message, error) {
	unsub, err := s.url("/unsubscribe", token)
	if err != nil {
		return privacy.Message{}, err
	}
	prefs, err := s.url("/preferences", token)
	if err != nil {
		return privacy.Message{}, err
	}
	html, text := m.fill(unsub, prefs)
	return privacy.Message{
		Purpose: s.listDef(c.List).Purpose, DataSubject: r.Email, To: privacy.Address{Email: r.Email},
		Subject: c.Subject, Text: text, HTML: html, Unsubscribe: unsub, Ref: c.Ref(),
	}, nil
}

// Progress is how far a campaign has got. Enqueued messages are Queued, Sent or
// Failed in the outbox.
type Progress struct {
	Status   CampaignStatus `json:"status"`
	Total    int            `json:"total"`    // recipients: confirmed members when sending started, exact once sent
	Enqueued int            `json:"enqueued"` // messages enqueued so far
	Skipped  int            `json:"skipped"`  // recipients refused by the Mailer (suppressed, left meanwhile)
	Queued   int            `json:"queued"`   // waiting in the outbox or being delivered
	Sent     int            `json:"sent"`
	Failed   int            `json:"failed"` // refused at delivery (left meanwhile), bounced or expired
	// Done counts the recipients settled: sent, failed or skipped.
	Done int `json:"done"`
	// Percent is Done of Total, 0 to 100: 100 once every recipient is settled.
	Percent int `json:"percent"`
	// Rate is messages sent or failed per second since sending started.
	Rate float64 `json:"rate"`
	// ETA is the seconds left at Rate; -1 while it is not known (nothing is settled
	// yet, or the campaign is not sending).
	ETA int `json:"eta"`
}

// Progress returns how far campaign id has got; it can be read while the campaign
// sends, from any process. Requires the editor role. Returns ErrNotFound.
func (s *Service) Progress(ctx context.Context, id int64) (Progress, error) {
	if err := privacy.Require(ctx, privacy.RoleEditor); err != nil {
		return Progress{}, err
	}
	c, err := s.store.Campaign(ctx, id)
	if err != nil {
		return Progress{}, err
	}
	st, err := s.outbox.OutboxStats(ctx, c.Ref())
	if err != nil {
		return Progress{}, err
	}
	return progressOf(c, st, s.clock()), nil
}

// progressOf is c's progress at now, its messages' states being st.
func progressOf(c Campaign, st privacy.OutboxStats, now time.Time) Progress {
	p := Progress{Status: c.Status, Total: max(c.Total, c.Enqueued+c.Skipped), Enqueued: c.Enqueued, Skipped: c.Skipped,
		Queued: st.Queued, Sent: st.Sent, Failed: st.Failed, ETA: -1}
	if c.Status == CampaignSent {
		p.Total = c.Enqueued + c.Skipped
	}
	p.Done = p.Sent + p.Failed + p.Skipped
	switch {
	case p.Total > 0:
		p.Percent = min(100, p.Done*100/p.Total)
	case c.Status == CampaignSent:
		p.Percent = 100 // a list with no member: nothing to wait for
	}
	if elapsed := now.Sub(c.StartedAt).Seconds(); !c.StartedAt.IsZero() && elapsed > 0 {
		p.Rate = float64(p.Sent+p.Failed) / elapsed
	}
	left := p.Total - p.Done
	if c.Status == CampaignCancelled {
		left = p.Queued // only what is already in the outbox goes out
	}
	started := c.Status == CampaignSending || c.Status == CampaignSent || c.Status == CampaignCancelled
	switch {
	case started && left <= 0 && c.Status != CampaignSending:
		p.ETA = 0
	case started && p.Rate > 0:
		p.ETA = int(math.Ceil(float64(max(left, 0)) / p.Rate))
	}
	return p
}

// ListCount is a list the site offers and how many confirmed members it has.
type ListCount struct {
	ListDef
	Members int `json:"members"`
}

// ListCounts returns the confirmed members of each list the site offers: the number
// only, never who (P9). Requires the editor role.
func (s *Service) ListCounts(ctx context.Context) ([]ListCount, error) {
	if err := privacy.Require(ctx, privacy.RoleEditor); err != nil {
		return nil, err
	}
	out := make([]ListCount, len(s.lists))
	for i, d := range s.lists {
		n, err := s.store.CountConfirmed(ctx, d.Name)
		if err != nil {
			return nil, err
		}
		out[i] = ListCount{ListDef: d, Members: n}
	}
	return out, nil
}

var errNotDue = errors.New("newsletter: campaign not due")

// backlogWait is how long SendDue waits for the outbox to drain below MaxQueued.
const backlogWait = 50 * time.Millisecond

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// SendDue starts the campaigns whose time has come and enqueues the recipients of
// every sending campaign, a batch per transaction, until each is fully enqueued or
// ctx is done. While MaxQueued of a campaign's messages wait in the outbox, it waits
// for the Dispatcher to catch up. Several processes may run it at once: a batch locks its campaign.
// Returns how many messages it enqueued.
func (s *Service) SendDue(ctx context.Context) (int, error) {
	now := s.clock()
	due, err := s.store.DueCampaigns(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range due {
		if c.Status == CampaignScheduled {
			total, err := s.store.CountConfirmed(ctx, c.List)
			if err != nil {
				return n, err
			}
			c, err = s.store.UpdateCampaign(ctx, c.ID, func(c *Campaign) error {
				if c.Status != CampaignScheduled || c.SendAt.After(now) {
					return errNotDue
				}
				c.Status, c.StartedAt, c.Total, c.UpdatedAt = CampaignSending, now, total, now
				return nil
			})
			if errors.Is(err, errNotDue) {
				continue
			}
			if err != nil {
				return n, err
			}
		}
		send, err := s.sender(c)
		if err != nil {
			return n, err
		}
		for ctx.Err() == nil {
			st, err := s.outbox.OutboxStats(ctx, c.Ref())
			if err != nil {
				return n, err
			}
			if st.Queued >= s.maxQueued {
				sleep(ctx, backlogWait)
				continue
			}
			b, err := s.store.EnqueueBatch(ctx, c.ID, s.batch, s.clock(), send)
			n += b.Enqueued
			if err != nil {
				return n, err
			}
			if b.Status != CampaignSending {
				break
			}
		}
	}
	return n, ctx.Err()
}

// sender returns the function that enqueues c's message to a batch of recipients
// with one Mailer.SendBatch, in the Store's transaction. The campaign mark makes
// AllowsMessage admit those recipients only, as the Store read them.
func (s *Service) sender(c Campaign) (SendFunc, error) {
	m, err := s.mailFor(c)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, rs []Recipient) (int, error) {
		msgs := make([]privacy.Message, len(rs))
		mark := campaignMark{emails: make(map[string]bool, len(rs)), list: c.List}
		for i, r := range rs {
			msg, err := s.campaignMessage(c, m, r, s.tokens.unsubscribeToken(r.ID, r.Email))
			if err != nil {
				return 0, err
			}
			msgs[i] = msg
			mark.emails[r.Email] = true
		}
		ids, errs, err := s.mailer.SendBatch(context.WithValue(ctx, campaignKey, mark), msgs)
		if err != nil {
			return 0, err
		}
		n := 0
		for i, err := range errs {
			switch {
			case errors.Is(err, privacy.ErrRefused):
			case errors.Is(err, privacy.ErrInvalid):
				s.log.WarnContext(ctx, "campaign message invalid; recipient skipped", "campaign", c.ID, "subscription", rs[i].ID, "err", privacy.FieldOf(err))
			case err != nil:
				return 0, err
			case ids[i] != 0:
				n++
			}
		}
		return n, nil
	}, nil
}

// Run calls SyncConsents and SendDue every Poll until ctx is done, logging failures,
// and returns nil then. The two run side by side, so a long campaign does not hold up
// the confirmation mail of someone who just registered. Run it beside the
// privacy.Dispatcher in every process (or one): SendDue waits for the Dispatcher
// whenever a campaign's backlog reaches MaxQueued.
func (s *Service) Run(ctx context.Context) error {
	every := func(name string, fn func(context.Context) (int, error)) {
		t := time.NewTicker(s.poll)
		defer t.Stop()
		for {
			if _, err := fn(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "newsletter "+name, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { every("consent sync", s.SyncConsents) })
	wg.Go(func() { every("campaigns", s.SendDue) })
	wg.Wait()
	return nil
}
