package newsletter

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// The staff pages: server-rendered, through the host's Layout, plain forms answered
// with 303 See Other. They need no JavaScript of their own; the one live part, a
// sending campaign's progress, is an element whose data-progress attribute names
// the JSON progress route for the host's script to poll.

// localTime is the form of an <input type=datetime-local>.
const localTime = "2006-01-02T15:04"

// staffURL is the path of a staff page, from the configured base.
func (h *Handler) staffURL(id int64, rest string) string {
	u := h.svc.prefix + "/staff/campaigns"
	if id > 0 {
		u += "/" + strconv.FormatInt(id, 10)
	}
	return u + rest
}

// seeOther answers a form post with the page to show next.
func (h *Handler) seeOther(w http.ResponseWriter, r *http.Request, id int64, rest string) {
	http.Redirect(w, r, h.staffURL(id, rest), http.StatusSeeOther)
}

// staffForm reads a staff form's fields, refusing fields not in allowed.
func staffForm(r *http.Request, allowed ...string) (url.Values, error) {
	if err := privacy.Require(r.Context(), privacy.RoleEditor); err != nil {
		return nil, err
	}
	return apiBody(r, allowed...)
}

// faults is a form's faults: all of them for the summary, and the first of each
// field by its name, beside its input.
type faults struct {
	Errors []web.FieldError
	Err    map[string]web.FieldError
}

func (h *Handler) faults(err error) faults {
	f := faults{Errors: web.FieldErrors(err, h.label), Err: map[string]web.FieldError{}}
	for _, fe := range slices.Backward(f.Errors) {
		if fe.Field != "" {
			f.Err[fe.Field] = fe
		}
	}
	return f
}

// campaignRow is one campaign of the list page.
type campaignRow struct {
	Campaign
	URL string
}

type campaignsPage struct {
	Campaigns []campaignRow
	Lists     []ListCount
	New       string // the new-draft page
	Zone      string
}

func (h *Handler) staffCampaigns(w http.ResponseWriter, r *http.Request) {
	cs, err := h.svc.Campaigns(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	counts, err := h.svc.ListCounts(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := campaignsPage{Lists: counts, New: h.staffURL(0, "/new"), Zone: h.zone().String()}
	for _, c := range cs {
		c.CreatedAt, c.SendAt = c.CreatedAt.In(h.zone()), c.SendAt.In(h.zone())
		p.Campaigns = append(p.Campaigns, campaignRow{Campaign: c, URL: h.staffURL(c.ID, "")})
	}
	h.render(w, r, http.StatusOK, "staff-campaigns", p)
}

// draftPage is the form that writes a draft: a new one (ID 0) or an edit.
type draftPage struct {
	faults
	ID       int64
	Action   string
	Draft    Draft
	Lists    []ListCount
	MaxTitle int
	MaxBody  int
}

func (h *Handler) draftPage(w http.ResponseWriter, r *http.Request, status int, id int64, d Draft, err error) {
	counts, cerr := h.svc.ListCounts(r.Context())
	if cerr != nil {
		h.fail(w, r, cerr)
		return
	}
	h.render(w, r, status, "staff-draft", draftPage{faults: h.faults(err), ID: id, Action: h.staffURL(id, ""),
		Draft: d, Lists: counts, MaxTitle: privacy.MaxSubjectLen, MaxBody: MaxMarkdownLen})
}

func (h *Handler) staffNew(w http.ResponseWriter, r *http.Request) {
	if err := privacy.Require(r.Context(), privacy.RoleEditor); err != nil {
		h.fail(w, r, err)
		return
	}
	h.draftPage(w, r, http.StatusOK, 0, Draft{List: h.svc.lists[0].Name}, nil)
}

func (h *Handler) staffCreate(w http.ResponseWriter, r *http.Request) {
	v, err := staffForm(r, "list", "subject", "markdown")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.CreateCampaign(r.Context(), draftFrom(v))
	if err != nil {
		h.draftPage(w, r, web.HTTPStatus(err), 0, draftFrom(v), err)
		return
	}
	h.seeOther(w, r, c.ID, "?done=saved")
}

func (h *Handler) staffSave(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := staffForm(r, "list", "subject", "markdown")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.svc.UpdateCampaign(r.Context(), id, draftFrom(v)); err != nil {
		if !errors.Is(err, privacy.ErrInvalid) {
			h.fail(w, r, err)
			return
		}
		h.draftPage(w, r, web.HTTPStatus(err), id, draftFrom(v), err)
		return
	}
	h.seeOther(w, r, id, "?done=saved")
}

// campaignPage is a campaign's page: what it is, and what can be done with it now.
type campaignPage struct {
	faults
	Campaign Campaign
	List     ListCount
	Progress Progress
	// PerMinute and Left are the progress's rate and time left as the page shows
	// them, and as the host's script writes them from the JSON: messages a minute,
	// rounded, and h:mm:ss (a dash while not known).
	PerMinute int
	Left      string
	Done      string // what the form before did: saved, tested, scheduled, cancelled
	TestTo    string
	At        string // the time asked for, as typed
	Zone      string
	URL       string // the page's own
	// ProgressURL is the JSON route a script polls while the campaign sends.
	ProgressURL string
	Live        bool // the campaign is scheduled or sending: its progress changes
}

// campaign loads campaign id and what its pages show with it.
func (h *Handler) campaign(r *http.Request, id int64) (campaignPage, error) {
	c, err := h.svc.Campaign(r.Context(), id)
	if err != nil {
		return campaignPage{}, err
	}
	p, err := h.svc.Progress(r.Context(), id)
	if err != nil {
		return campaignPage{}, err
	}
	counts, err := h.svc.ListCounts(r.Context())
	if err != nil {
		return campaignPage{}, err
	}
	list := ListCount{ListDef: h.svc.listDef(c.List)}
	for _, lc := range counts {
		if lc.Name == c.List {
			list = lc
		}
	}
	z := h.zone()
	c.CreatedAt, c.SendAt, c.StartedAt, c.FinishedAt = c.CreatedAt.In(z), c.SendAt.In(z), c.StartedAt.In(z), c.FinishedAt.In(z)
	page := campaignPage{Campaign: c, List: list, Progress: p, PerMinute: int(math.Round(p.Rate * 60)), Left: clockTime(p.ETA),
		Zone: z.String(), URL: h.staffURL(id, ""),
		ProgressURL: h.svc.prefix + "/api/campaigns/" + strconv.FormatInt(id, 10) + "/progress",
		Live:        c.Status == CampaignScheduled || c.Status == CampaignSending || p.Queued > 0}
	if a := privacy.ActorFrom(r.Context()); h.svc.policy.IsOperatorAddress(a.Email) {
		page.TestTo = a.Email
	}
	return page, nil
}

func (h *Handler) showCampaign(w http.ResponseWriter, r *http.Request, status int, id int64, edit func(*campaignPage), err error) {
	p, lerr := h.campaign(r, id)
	if lerr != nil {
		h.fail(w, r, lerr)
		return
	}
	p.faults = h.faults(err)
	if edit != nil {
		edit(&p)
	}
	h.render(w, r, status, "staff-campaign", p)
}

func (h *Handler) staffCampaign(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	done := r.URL.Query().Get("done")
	if !slices.Contains([]string{"saved", "tested", "scheduled", "cancelled"}, done) {
		done = ""
	}
	h.showCampaign(w, r, http.StatusOK, id, func(p *campaignPage) { p.Done = done }, nil)
}

func (h *Handler) staffEdit(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.Campaign(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if c.Status != CampaignDraft {
		h.seeOther(w, r, id, "")
		return
	}
	h.draftPage(w, r, http.StatusOK, id, Draft{List: c.List, Subject: c.Subject, Markdown: c.Markdown}, nil)
}

// previewPage shows a campaign's mail as a member gets it, but for the
// member's own links.
type previewPage struct {
	Campaign Campaign
	HTML     template.HTML // the body, rendered and sanitized, without the footer
	Text     string        // the whole plain-text alternative, footer included
	URL      string        // the campaign's page
}

func (h *Handler) staffPreview(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.Campaign(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.svc.mailFor(c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	_, text := m.fill(h.svc.base+"/unsubscribe", h.svc.base+"/preferences")
	h.render(w, r, http.StatusOK, "staff-preview", previewPage{Campaign: c, HTML: template.HTML(c.HTML), Text: text, URL: h.staffURL(id, "")})
}

func (h *Handler) staffTest(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := staffForm(r, "to")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.TestSend(r.Context(), id, v.Get("to")); err != nil {
		if privacy.FieldOf(err) != "to" {
			h.fail(w, r, err)
			return
		}
		h.showCampaign(w, r, web.HTTPStatus(err), id, func(p *campaignPage) { p.TestTo = v.Get("to") }, err)
		return
	}
	h.seeOther(w, r, id, "?done=tested")
}

// sendAt reads the time a campaign is to be sent at: empty is now.
func (h *Handler) sendAt(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(localTime, s, h.zone())
	if err != nil {
		t, err = time.Parse(time.RFC3339, s)
	}
	if err != nil {
		return time.Time{}, privacy.Invalid("at", "must be a date and time such as 2026-11-05T09:00")
	}
	return t, nil
}

// sendPage asks to confirm a send: to how many, of which list, when.
type sendPage struct {
	Campaign Campaign
	List     ListCount
	At       string    // as typed, sent back with the confirmation
	When     time.Time // zero: now
	Zone     string
	Action   string
	URL      string // the campaign's page
}

func (h *Handler) staffConfirmSend(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	at := r.URL.Query().Get("at")
	when, err := h.sendAt(at)
	if err != nil {
		h.showCampaign(w, r, web.HTTPStatus(err), id, func(p *campaignPage) { p.At = clip(at, 40) }, err)
		return
	}
	p, err := h.campaign(r, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if p.Campaign.Status != CampaignDraft {
		h.seeOther(w, r, id, "")
		return
	}
	if !when.IsZero() && !when.After(h.svc.clock()) {
		when, at = time.Time{}, ""
	}
	h.render(w, r, http.StatusOK, "staff-send", sendPage{Campaign: p.Campaign, List: p.List, At: at, When: when.In(h.zone()),
		Zone: p.Zone, Action: h.staffURL(id, "/send"), URL: p.URL})
}

func (h *Handler) staffSend(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := staffForm(r, "at", "confirm")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if v.Get("confirm") != "yes" {
		err := privacy.Invalid("confirm", "the send was not confirmed")
		h.showCampaign(w, r, web.HTTPStatus(err), id, nil, err)
		return
	}
	when, err := h.sendAt(v.Get("at"))
	if err == nil {
		_, err = h.svc.Schedule(r.Context(), id, when)
	}
	if err != nil {
		h.showCampaign(w, r, web.HTTPStatus(err), id, func(p *campaignPage) { p.At = clip(v.Get("at"), 40) }, err)
		return
	}
	h.seeOther(w, r, id, "?done=scheduled")
}

func (h *Handler) staffCancel(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.svc.Cancel(r.Context(), id); err != nil {
		if errors.Is(err, privacy.ErrUnauthorized) || errors.Is(err, privacy.ErrForbidden) {
			h.fail(w, r, err)
			return
		}
		h.showCampaign(w, r, web.HTTPStatus(err), id, nil, err)
		return
	}
	h.seeOther(w, r, id, "?done=cancelled")
}

// clockTime is seconds as h:mm:ss, or a dash for a negative (unknown) time.
func clockTime(seconds int) string {
	if seconds < 0 {
		return "–"
	}
	return fmt.Sprintf("%d:%02d:%02d", seconds/3600, seconds/60%60, seconds%60)
}

func (h *Handler) zone() *time.Location {
	if h.cfg.TimeZone == nil {
		return time.UTC
	}
	return h.cfg.TimeZone
}
