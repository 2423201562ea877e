package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/consentkit/consentkit/privacy"
)

// MaxTitleLen bounds a resource's title.
const MaxTitleLen = 200

func checkVisibility(v string) (string, error) {
	switch v {
	case "", Private:
		return Private, nil
	case Community:
		return Community, nil
	}
	return "", privacy.Invalid("visibility", "must be %q or %q", Private, Community)
}

// AddPhoto stores a photo for the signed-in member (P2). The type is sniffed from
// the content, never taken from a name: JPEG, PNG, GIF or WebP. JPEG, PNG and GIF
// are checked for size in pixels before decoding and re-encoded, which drops every
// metadata block (EXIF with GPS, comments, XMP); WebP has its EXIF and XMP chunks
// removed. Returns ErrUnauthorized when no one is signed in, ErrInvalid naming
// "file" (too large, not an image, too many pixels, quota full), "title" or
// "visibility", and ErrUnavailable (503, with Retry-After) when no photo slot came
// free within Config.PhotoWait or before ctx's deadline.
func (s *Service) AddPhoto(ctx context.Context, title, visibility string, data []byte) (Resource, error) {
	actor, err := signedIn(ctx)
	if err != nil {
		return Resource{}, err
	}
	if err := privacy.CheckText("title", title, MaxTitleLen, false); err != nil {
		return Resource{}, err
	}
	vis, err := checkVisibility(visibility)
	if err != nil {
		return Resource{}, err
	}
	if int64(len(data)) > s.cfg.PhotoMaxBytes {
		return Resource{}, privacy.Invalid("file", "the photo is larger than %d MiB", s.cfg.PhotoMaxBytes>>20)
	}
	if len(data) == 0 {
		return Resource{}, privacy.Invalid("file", "choose a photo to upload")
	}
	// Refusing by the header first keeps bombs out of the queue for a slot.
	if _, err := checkPhoto(data, s.cfg.PhotoMaxPixels); err != nil {
		return Resource{}, err
	}
	release, err := s.photoSlot(ctx)
	if err != nil {
		return Resource{}, err
	}
	if s.photoHook != nil {
		s.photoHook()
	}
	ct, clean, err := CleanPhoto(data, s.cfg.PhotoMaxPixels)
	release()
	if err != nil {
		return Resource{}, err
	}
	return s.addResource(ctx, Resource{AccountID: actor.ID, Kind: KindPhoto, Title: title, ContentType: ct, Data: clean,
		Size: int64(len(clean)), Visibility: vis})
}

// photoSlot takes one of Config.PhotoSlots decode slots, waiting at most
// Config.PhotoWait or until ctx is done. A decode holds up to 4 bytes for each of
// Config.PhotoMaxPixels, so the slots bound what uploads can take at once.
func (s *Service) photoSlot(ctx context.Context) (release func(), err error) {
	t := time.NewTimer(s.cfg.PhotoWait)
	defer t.Stop()
	select {
	case s.photos <- struct{}{}:
		return func() { <-s.photos }, nil
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, &privacy.Error{Kind: privacy.ErrUnavailable, Message: "the server is busy; try again in a moment", RetryAfter: time.Second}
}

// AddText stores a note or a message for the signed-in member. Returns
// ErrUnauthorized when no one is signed in and ErrInvalid naming "kind", "title",
// "body" (empty, too long, control characters) or "visibility", or "file" when the
// quota is full.
func (s *Service) AddText(ctx context.Context, kind, title, body, visibility string) (Resource, error) {
	actor, err := signedIn(ctx)
	if err != nil {
		return Resource{}, err
	}
	max := 0
	switch kind {
	case KindNote:
		max = s.cfg.NoteMaxLen
	case KindMessage:
		max = s.cfg.MessageMaxLen
	default:
		return Resource{}, privacy.Invalid("kind", "must be %q or %q", KindNote, KindMessage)
	}
	if err := privacy.CheckText("title", title, MaxTitleLen, false); err != nil {
		return Resource{}, err
	}
	if err := privacy.CheckMultiline("body", body, max, true); err != nil {
		return Resource{}, err
	}
	vis, err := checkVisibility(visibility)
	if err != nil {
		return Resource{}, err
	}
	return s.addResource(ctx, Resource{AccountID: actor.ID, Kind: kind, Title: title, Body: body,
		Size: int64(len(title) + len(body)), Visibility: vis})
}

func (s *Service) addResource(ctx context.Context, r Resource) (Resource, error) {
	var err error
	if r.ID, err = s.newID(); err != nil {
		return Resource{}, err
	}
	r.Created = s.now()
	if err := s.store.AddResource(ctx, &r, s.cfg.Quota); err != nil {
		return Resource{}, err
	}
	r.Data = nil
	return r, nil
}

// MyResources lists the signed-in member's resources, newest first, without data.
// Returns ErrUnauthorized when no one is signed in.
func (s *Service) MyResources(ctx context.Context) ([]Resource, error) {
	actor, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.Resources(ctx, ResourceFilter{AccountID: actor.ID, Limit: -1})
}

// CommunityResources lists resources members made visible to the community,
// newest first, with the author's display name and never an address. Returns
// ErrUnauthorized when no one is signed in: the community is the members.
func (s *Service) CommunityResources(ctx context.Context, limit int) ([]Resource, error) {
	if _, err := signedIn(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	return s.store.Resources(ctx, ResourceFilter{Community: true, Limit: limit})
}

// GetResource returns a resource with its data to its owner, or to any signed-in
// member when it is visible to the community. Returns ErrUnauthorized when no one
// is signed in and ErrNotFound otherwise, so a private resource's existence is not
// revealed.
func (s *Service) GetResource(ctx context.Context, id string) (Resource, error) {
	actor, err := signedIn(ctx)
	if err != nil {
		return Resource{}, err
	}
	notFound := privacy.Errorf(privacy.ErrNotFound, "no such resource")
	if len(id) != 32 {
		return Resource{}, notFound
	}
	r, err := s.store.Resource(ctx, id)
	if errors.Is(err, privacy.ErrNotFound) || err == nil && r.AccountID != actor.ID && r.Visibility != Community {
		return Resource{}, notFound
	}
	return r, err
}

// DeleteResource deletes one of the signed-in member's resources. Returns
// ErrUnauthorized when no one is signed in and ErrNotFound when the member has no
// resource with that id.
func (s *Service) DeleteResource(ctx context.Context, id string) error {
	actor, err := signedIn(ctx)
	if err != nil {
		return err
	}
	if len(id) != 32 {
		return privacy.Errorf(privacy.ErrNotFound, "no such resource")
	}
	return s.store.DeleteResource(ctx, actor.ID, id)
}

// Usage returns the bytes the signed-in member's resources take and the quota.
func (s *Service) Usage(ctx context.Context) (used, quota int64, err error) {
	actor, err := signedIn(ctx)
	if err != nil {
		return 0, 0, err
	}
	used, err = s.store.Usage(ctx, actor.ID)
	return used, s.cfg.Quota, err
}
