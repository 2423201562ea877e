package privacy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// A Holder is a part of the site that keeps personal data. Its Contract says what it
// keeps, for how long and why, and what it writes on the policy page. A holder that
// can also export or erase what it keeps about a person implements Exporter and
// Eraser; one whose data expires implements Purger.
type Holder interface {
	Contract() Contract
}

// A Contract is everything the kernel needs from a holder of personal data, in one
// value: the policy page, the mail guard and the start-up check read it, so what
// the page promises is what the holder does.
type Contract struct {
	// Name names the holder in exports and erasure reports, e.g. "guestbook".
	Name string
	// Categories are the kinds of personal data the holder keeps, each with the
	// retention its Purge enforces: build them from the same configuration the
	// Purge reads.
	Categories []Category
	// Purposes are the uses the holder collects email addresses for.
	Purposes []PurposeUse
	// Sections are the holder's text on the policy page.
	Sections []Section
}

// A PurposeUse is one purpose a holder collects addresses for: the text that
// describes it on the policy page and the Allower that says which addresses may be
// mailed for it now.
type PurposeUse struct {
	Purpose     Purpose
	Description string // plain language, completing "We use an email address only ...": "to answer a question you sent us"
	Allower     Allower
	// Limit, for a purpose whose mail a visitor can make the site send to any
	// address they type (a sign-up confirmation, a password reset), is the most
	// messages of it queued to one address in one MailLimits.Window; 0 for none.
	// See MailLimits.
	Limit int
}

// A Section is a holder's text on the policy page, in Markdown: one or more
// paragraphs under Heading. The kernel's own headings (SectionCollected,
// SectionVisits, SectionChildren) place the text there, in the place of the
// kernel's statement that the site does no such thing; any other heading adds a
// section of its own after SectionVisits.
type Section struct {
	Heading string
	Text    string
}

// The policy page's headings a holder can write under.
const (
	SectionCollected = "What we collect and why" // what a form collects and why; one paragraph, led by a bold title, per holder
	SectionVisits    = "How we count visits"
	SectionChildren  = "Children"
)

// Exporter is a Holder that can export what it holds about a person.
type Exporter interface {
	// Export returns everything held about subject, as a JSON-encodable value, or
	// nil when nothing is held.
	Export(ctx context.Context, subject string) (any, error)
}

// Eraser is a Holder that can erase what it holds about a person.
type Eraser interface {
	// Erase removes what is held about subject, or keeps a part of it for a stated
	// reason (an anonymised comment, a legal hold).
	Erase(ctx context.Context, subject string) (Erasure, error)
}

// Purger is a Holder whose data expires: Purge removes what is past its retention
// period at now and returns how many records it removed.
type Purger interface {
	Purge(ctx context.Context, now time.Time) (int, error)
}

// Erasure is one holder's answer to an erasure request.
type Erasure struct {
	Holder   string   `json:"holder"`
	Removed  int      `json:"removed"`            // records removed
	Retained []string `json:"retained,omitempty"` // what was kept, each with its reason
}

// Registry lists the site's holders of personal data, so that an export or an
// erasure reaches every one of them without any capability importing another, and
// the policy page describes exactly what they do.
type Registry struct {
	// Mailer, when set, is given the Allower of every purpose a registered holder
	// declares.
	Mailer  *Mailer
	holders []registered
}

type registered struct {
	h Holder
	c Contract
}

// Register adds h, reading its Contract once. Register every holder before serving
// requests, in the order their text should appear on the policy page.
func (r *Registry) Register(h Holder) {
	c := h.Contract()
	r.holders = append(r.holders, registered{h, c})
	if r.Mailer != nil {
		r.Mailer.AllowContract(c)
	}
}

// Contracts returns the registered holders' contracts, in the order they were
// registered.
func (r *Registry) Contracts() []Contract {
	out := make([]Contract, len(r.holders))
	for i, h := range r.holders {
		out[i] = h.c
	}
	return out
}

// Categories returns every registered category, in the order the holders were
// registered.
func (r *Registry) Categories() []Category {
	var out []Category
	for _, h := range r.holders {
		out = append(out, h.c.Categories...)
	}
	return out
}

// Category returns the registered category with the given name.
func (r *Registry) Category(name string) (Category, bool) {
	for _, c := range r.Categories() {
		if c.Name == name {
			return c, true
		}
	}
	return Category{}, false
}

// Purposes returns every registered purpose, in the order the holders were
// registered.
func (r *Registry) Purposes() []PurposeUse {
	var out []PurposeUse
	for _, h := range r.holders {
		out = append(out, h.c.Purposes...)
	}
	return out
}

// Holders returns the registered holders, sorted by name.
func (r *Registry) Holders() []Holder {
	hs := r.sorted()
	out := make([]Holder, len(hs))
	for i, h := range hs {
		out[i] = h.h
	}
	return out
}

func (r *Registry) sorted() []registered {
	hs := append([]registered(nil), r.holders...)
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].c.Name < hs[j].c.Name })
	return hs
}

// Check reports every way the registered contracts fail to add up to the policy the
// page states: a holder or a category declared twice or without a name or
// description; a category with a retention period whose holder purges nothing; a
// purpose declared twice, unknown to the Mailer, without a description or without
// an Allower; and a purpose the Mailer sends for that no registered holder
// declares, which the policy page would not describe. Call it once every holder is
// registered.
func (r *Registry) Check() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	cats := map[string]string{}
	purposes := map[Purpose]string{}
	for _, h := range r.holders {
		c := h.c
		if c.Name == "" || names[c.Name] {
			fail("holder %q is unnamed or registered twice", c.Name)
		}
		names[c.Name] = true
		_, purges := h.h.(Purger)
		for _, cat := range c.Categories {
			switch {
			case cat.Name == "":
				fail("holder %s keeps a category with no name", c.Name)
			case cats[cat.Name] != "":
				fail("holder %s keeps category %q, which holder %s keeps too", c.Name, cat.Name, cats[cat.Name])
			}
			cats[cat.Name] = c.Name
			if cat.Description == "" {
				fail("holder %s does not describe category %q", c.Name, cat.Name)
			}
			if cat.Retention > 0 && !purges {
				fail("holder %s keeps category %q for %s, but purges nothing", c.Name, cat.Name, HumanDuration(cat.Retention))
			}
		}
		for _, pu := range c.Purposes {
			if other := purposes[pu.Purpose]; other != "" {
				fail("holder %s declares purpose %q, which holder %s declares too", c.Name, pu.Purpose, other)
			}
			purposes[pu.Purpose] = c.Name
			if !pu.Purpose.Valid() {
				fail("holder %s declares purpose %q: a purpose is 1 to 64 lower-case letters, digits and hyphens", c.Name, pu.Purpose)
			}
			if pu.Description == "" {
				fail("holder %s does not describe purpose %q", c.Name, pu.Purpose)
			}
			if pu.Allower == nil {
				fail("holder %s declares purpose %q without an Allower: no address could be mailed for it", c.Name, pu.Purpose)
			}
		}
	}
	if r.Mailer != nil {
		for _, pu := range r.Mailer.allowedPurposes() {
			if purposes[pu] == "" {
				fail("the mailer sends mail for purpose %q, which no registered holder declares", pu)
			}
		}
	}
	return errors.Join(errs...)
}

// Export asks every Exporter for what it holds about subject. The result maps holder
// name to its export; holders that hold nothing are listed with a nil value.
func (r *Registry) Export(ctx context.Context, subject string) (map[string]any, error) {
	out := map[string]any{}
	for _, h := range r.sorted() {
		e, ok := h.h.(Exporter)
		if !ok {
			continue
		}
		v, err := e.Export(ctx, subject)
		if err != nil {
			return nil, fmt.Errorf("export from %s: %w", h.c.Name, err)
		}
		out[h.c.Name] = v
	}
	return out, nil
}

// Erase asks every Eraser to erase subject. It goes on past a failing holder so one
// failure does not leave the others untouched, and returns every error joined.
func (r *Registry) Erase(ctx context.Context, subject string) ([]Erasure, error) {
	var out []Erasure
	var errs []error
	for _, h := range r.sorted() {
		e, ok := h.h.(Eraser)
		if !ok {
			continue
		}
		res, err := e.Erase(ctx, subject)
		res.Holder = h.c.Name
		if err != nil {
			errs = append(errs, fmt.Errorf("erase from %s: %w", h.c.Name, err))
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// Purge runs every Purger and returns how many records each removed.
func (r *Registry) Purge(ctx context.Context, now time.Time) (map[string]int, error) {
	out := map[string]int{}
	var errs []error
	for _, h := range r.sorted() {
		p, ok := h.h.(Purger)
		if !ok {
			continue
		}
		n, err := p.Purge(ctx, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("purge %s: %w", h.c.Name, err))
		}
		out[h.c.Name] = n
	}
	return out, errors.Join(errs...)
}
