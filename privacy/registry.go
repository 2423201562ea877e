package privacy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// A Holder is a part of the site that keeps personal data: it names the data
// categories it holds. A holder that can also export or erase what it keeps about a
// person implements Exporter and Eraser; one whose data expires implements Purger.
type Holder interface {
	// HolderName names the holder in exports and erasure reports, e.g. "comments".
	HolderName() string
	// Categories names the policy categories the holder keeps.
	Categories() []string
}

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
// erasure reaches every one of them without any capability importing another.
type Registry struct {
	holders []Holder
}

// Register adds h. Register every holder before serving requests.
func (r *Registry) Register(h Holder) { r.holders = append(r.holders, h) }

// Holders returns the registered holders, sorted by name.
func (r *Registry) Holders() []Holder {
	hs := append([]Holder(nil), r.holders...)
	sort.Slice(hs, func(i, j int) bool { return hs[i].HolderName() < hs[j].HolderName() })
	return hs
}

// Check reports every category the policy declares that no holder keeps, and every
// category a holder keeps that the policy does not declare.
func (r *Registry) Check(p *Policy) error {
	held := map[string]bool{}
	var errs []error
	for _, h := range r.holders {
		for _, c := range h.Categories() {
			held[c] = true
			if _, ok := p.Category(c); !ok {
				errs = append(errs, fmt.Errorf("holder %s keeps category %q, which the policy does not declare", h.HolderName(), c))
			}
		}
	}
	for _, c := range p.Categories {
		if !held[c.Name] {
			errs = append(errs, fmt.Errorf("the policy declares category %q, but no holder keeps it", c.Name))
		}
	}
	return errors.Join(errs...)
}

// Export asks every Exporter for what it holds about subject. The result maps holder
// name to its export; holders that hold nothing are listed with a nil value.
func (r *Registry) Export(ctx context.Context, subject string) (map[string]any, error) {
	out := map[string]any{}
	for _, h := range r.Holders() {
		e, ok := h.(Exporter)
		if !ok {
			continue
		}
		v, err := e.Export(ctx, subject)
		if err != nil {
			return nil, fmt.Errorf("export from %s: %w", h.HolderName(), err)
		}
		out[h.HolderName()] = v
	}
	return out, nil
}

// Erase asks every Eraser to erase subject. It goes on past a failing holder so one
// failure does not leave the others untouched, and returns every error joined.
func (r *Registry) Erase(ctx context.Context, subject string) ([]Erasure, error) {
	var out []Erasure
	var errs []error
	for _, h := range r.Holders() {
		e, ok := h.(Eraser)
		if !ok {
			continue
		}
		res, err := e.Erase(ctx, subject)
		res.Holder = h.HolderName()
		if err != nil {
			errs = append(errs, fmt.Errorf("erase from %s: %w", h.HolderName(), err))
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// Purge runs every Purger and returns how many records each removed.
func (r *Registry) Purge(ctx context.Context, now time.Time) (map[string]int, error) {
	out := map[string]int{}
	var errs []error
	for _, h := range r.Holders() {
		p, ok := h.(Purger)
		if !ok {
			continue
		}
		n, err := p.Purge(ctx, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("purge %s: %w", h.HolderName(), err))
		}
		out[h.HolderName()] = n
	}
	return out, errors.Join(errs...)
}
