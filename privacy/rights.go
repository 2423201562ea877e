package privacy

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"time"
)

// RequestKind is what a person asks for about their data.
type RequestKind string

// The subject requests.
const (
	RequestExport RequestKind = "export" // a copy of everything held about the address
	RequestErase  RequestKind = "erase"  // erasure from every holder
)

// RightsRequest is a person's request to export or erase their data, waiting for the
// person to confirm it from the link mailed to the address. Only the hashes of the
// confirmation and download tokens are stored.
type RightsRequest struct {
	ID           int64       `db:"id"`
	Kind         RequestKind `db:"kind"`
	Subject      string      `db:"subject"`
	TokenHash    []byte      `db:"token_hash"`
	Created      time.Time   `db:"created_at"`
	Confirmed    bool        `db:"confirmed"`
	DownloadHash []byte      `db:"download_hash"` // set once an export is confirmed
	DownloadBy   time.Time   `db:"download_by"`
}

// RightsEvent is the anonymous record kept of a completed request: what was done and
// when, never for whom.
type RightsEvent struct {
	ID      int64       `json:"id" db:"id"`
	Kind    RequestKind `json:"kind" db:"kind"`
	Holders int         `json:"holders" db:"holders"`
	Records int         `json:"records" db:"records"` // records exported or removed
	At      time.Time   `json:"at" db:"at"`
}

// RightsStore keeps subject requests.
type RightsStore interface {
	// CreateRequest stores r and sets its ID; joins the transaction in ctx, if any.
	CreateRequest(ctx context.Context, r *RightsRequest) error
	// RequestByToken returns the request whose confirmation token hashes to h, or ErrNotFound.
	RequestByToken(ctx context.Context, h []byte) (*RightsRequest, error)
	// RequestByDownload returns the request whose download token hashes to h, or ErrNotFound.
	RequestByDownload(ctx context.Context, h []byte) (*RightsRequest, error)
	// UpdateRequest saves r's Confirmed, DownloadHash and DownloadBy.
	UpdateRequest(ctx context.Context, r *RightsRequest) error
	// DeleteRequest removes request id; it is not an error if it is already gone.
	DeleteRequest(ctx context.Context, id int64) error
	// EraseRequests removes every request of subject, confirmed or not, and returns
	// how many it removed.
	EraseRequests(ctx context.Context, subject string) (int, error)
	// HasRequest reports whether subject has a request created at or after since.
	HasRequest(ctx context.Context, subject string, since time.Time) (bool, error)
	// PurgeRequests removes requests created before t.
	PurgeRequests(ctx context.Context, t time.Time) (int, error)
	// AppendRightsEvent records a completed request.
	AppendRightsEvent(ctx context.Context, e *RightsEvent) error
	// RightsEvents lists completed requests, newest first.
	RightsEvents(ctx context.Context, limit int) ([]RightsEvent, error)
}

// Rights carries out subject requests: anyone may ask, by email address, for an export
// or an erasure of what the site holds about that address. The request is confirmed
// from a link mailed to the address (purpose data-rights); an export is then a JSON
// download behind a one-time link that expires, never a mail attachment; an erasure
// runs across every holder in the Registry and the result is shown to the person.
type Rights struct {
	Store    RightsStore
	Registry *Registry
	Mailer   *Mailer
	Now      func() time.Time
	// Rand supplies the confirmation and download tokens (see TokenMaker); nil
	// means crypto/rand.
	Rand io.Reader
	// BaseURL is the absolute URL the confirmation link starts with, e.g.
	// "https://example.com/privacy/confirm".
	BaseURL string
	// ConfirmWithin is how long a confirmation link works (default 24h); requests
	// older than that are purged.
	ConfirmWithin time.Duration
	// DownloadWithin is how long a download link works (default 1h).
	DownloadWithin time.Duration
	// Templates overrides the confirmation mail of DefaultTemplates (rights.txt);
	// nil for the defaults.
	Templates fs.FS

	parseOnce sync.Once
	tpl       *Templates
	tplErr    error
}

// Check parses the mail templates and reports a bad override: call it at start-up
// (web.New does).
func (rt *Rights) Check() error {
	rt.parseOnce.Do(func() { rt.tpl, rt.tplErr = ParseTemplates(DefaultTemplates, rt.Templates, nil) })
	return rt.tplErr
}

func (rt *Rights) now() time.Time { return nowOr(rt.Now) }

func (rt *Rights) tokens() TokenMaker { return TokenMaker{Rand: rt.Rand} }

func (rt *Rights) confirmWithin() time.Duration {
	if rt.ConfirmWithin > 0 {
		return rt.ConfirmWithin
	}
	return 24 * time.Hour
}

// Allows implements Allower for PurposeDataRights: mail about a request goes only to
// an address that made one recently.
func (rt *Rights) Allows(ctx context.Context, p Purpose, subject string) (bool, error) {
	if p != PurposeDataRights {
		return false, nil
	}
	return rt.Store.HasRequest(ctx, subject, rt.now().Add(-rt.confirmWithin()))
}

// Ask records a request of kind for the address and mails the confirmation link.
// The answer is the same whether or not the site holds anything about the address.
// Returns ErrInvalid for a bad address or kind.
func (rt *Rights) Ask(ctx context.Context, email string, kind RequestKind) error {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	if kind != RequestExport && kind != RequestErase {
		return Invalid("kind", "choose export or erase")
	}
	token, hash, err := rt.tokens().New()
	if err != nil {
		return err
	}
	r := &RightsRequest{Kind: kind, Subject: addr, TokenHash: hash, Created: rt.now()}
	if err := rt.Store.CreateRequest(ctx, r); err != nil {
		return err
	}
	if err := rt.Check(); err != nil {
		return err
	}
	data := map[string]any{"Kind": string(kind), "Within": rt.confirmWithin(), "Link": rt.BaseURL + "?t=" + url.QueryEscape(token)}
	var subject, text strings.Builder
	if err := rt.tpl.Text.ExecuteTemplate(&subject, "rights-confirm-subject", data); err != nil {
		return err
	}
	if err := rt.tpl.Text.ExecuteTemplate(&text, "rights-confirm", data); err != nil {
		return err
	}
	_, err = rt.Mailer.Send(ctx, Message{
		Purpose:     PurposeDataRights,
		DataSubject: addr,
		To:          Address{Email: addr},
		Subject:     subject.String(),
		Text:        text.String(),
	})
	return err
}

// Pending returns the request a confirmation token belongs to without acting on it,
// so the confirmation page can say what will happen. Returns ErrGone for an unknown
// or expired token.
func (rt *Rights) Pending(ctx context.Context, token string) (*RightsRequest, error) {
	r, err := rt.Store.RequestByToken(ctx, HashToken(token))
	if err != nil || r.Confirmed || rt.now().Sub(r.Created) > rt.confirmWithin() {
		return nil, Errorf(ErrGone, "this link has expired or was already used; ask again")
	}
	return r, nil
}

// Outcome is what a confirmed request did.
type Outcome struct {
	Kind          RequestKind `json:"kind"`
	DownloadToken string      `json:"download_token,omitempty"` // for an export: the one-time download token
	DownloadBy    time.Time   `json:"download_by,omitzero"`
	Erasures      []Erasure   `json:"erasures,omitempty"` // for an erasure: each holder's answer
}

// Confirm carries out the request a confirmation token belongs to. For an export it
// returns a one-time download token; for an erasure it erases the subject from every
// holder, deletes the request and returns each holder's answer. Returns ErrGone for
// an unknown, used or expired token.
func (rt *Rights) Confirm(ctx context.Context, token string) (Outcome, error) {
	r, err := rt.Pending(ctx, token)
	if err != nil {
		return Outcome{}, err
	}
	switch r.Kind {
	case RequestExport:
		dl, hash, err := rt.tokens().New()
		if err != nil {
			return Outcome{}, err
		}
		r.Confirmed, r.DownloadHash = true, hash
		r.DownloadBy = rt.now().Add(rt.downloadWithin())
		if err := rt.Store.UpdateRequest(ctx, r); err != nil {
			return Outcome{}, err
		}
		return Outcome{Kind: RequestExport, DownloadToken: dl, DownloadBy: r.DownloadBy}, nil
	default:
		// Every request row names the subject, this one and any other still pending:
		// remove them first so nothing of them remains, whether or not Rights is
		// registered as a holder.
		if _, err := rt.Store.EraseRequests(ctx, r.Subject); err != nil {
			return Outcome{}, err
		}
		res, err := rt.Registry.Erase(ctx, r.Subject)
		n := 0
		for _, e := range res {
			n += e.Removed
		}
		if lerr := rt.Store.AppendRightsEvent(ctx, &RightsEvent{Kind: RequestErase, Holders: len(res), Records: n, At: rt.now()}); lerr != nil && err == nil {
			err = lerr
		}
		return Outcome{Kind: RequestErase, Erasures: res}, err
	}
}

func (rt *Rights) downloadWithin() time.Duration {
	if rt.DownloadWithin > 0 {
		return rt.DownloadWithin
	}
	return time.Hour
}

// Download returns the export a download token gives access to, as JSON, and
// invalidates the token. Returns ErrGone for an unknown, used or expired token.
func (rt *Rights) Download(ctx context.Context, token string) ([]byte, error) {
	r, err := rt.Store.RequestByDownload(ctx, HashToken(token))
	if err != nil || rt.now().After(r.DownloadBy) {
		return nil, Errorf(ErrGone, "this download link has expired or was already used; ask again")
	}
	if err := rt.Store.DeleteRequest(ctx, r.ID); err != nil {
		return nil, err
	}
	data, err := rt.Registry.Export(ctx, r.Subject)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, v := range data {
		if v != nil {
			n++
		}
	}
	if err := rt.Store.AppendRightsEvent(ctx, &RightsEvent{Kind: RequestExport, Holders: len(data), Records: n, At: rt.now()}); err != nil {
		return nil, err
	}
	return json.MarshalIndent(struct {
		Subject  string         `json:"subject"`
		Exported time.Time      `json:"exported"`
		Holders  map[string]any `json:"holders"`
	}{r.Subject, rt.now(), data}, "", "  ")
}

// CategoryDataRequests is the category of pending export and erasure requests,
// which name their subject.
const CategoryDataRequests = "data-requests"

// Contract implements Holder: pending requests, kept for ConfirmWithin, and the
// data-rights purpose with Rights as its Allower.
func (rt *Rights) Contract() Contract {
	return Contract{
		Name: "data-requests",
		Categories: []Category{{Name: CategoryDataRequests, Description: "Your pending data request",
			Retention: rt.confirmWithin(), RetentionOf: "the request"}},
		Purposes: []PurposeUse{{Purpose: PurposeDataRights, Allower: rt, Limit: 3,
			Description: "to confirm and answer your requests to see or erase your data"}},
	}
}

// Erase implements Eraser: every request of the subject, pending or confirmed, is
// removed, so an erasure that does not come from a request (a deleted account)
// leaves none behind either.
func (rt *Rights) Erase(ctx context.Context, subject string) (Erasure, error) {
	n, err := rt.Store.EraseRequests(ctx, subject)
	return Erasure{Removed: n}, err
}

// Purge implements Purger: requests not confirmed in time are removed.
func (rt *Rights) Purge(ctx context.Context, now time.Time) (int, error) {
	return rt.Store.PurgeRequests(ctx, now.Add(-rt.confirmWithin()))
}
