package accounts

import (
	"context"
	"strings"

	"github.com/consentkit/consentkit/privacy"
)

type deviceKey struct{}

// WithUserAgent returns ctx carrying a coarse label of the browser and system of
// userAgent ("Firefox on Linux"), which a session opened with ctx keeps for the
// member's session list. The Handler sets it from the request; the string itself
// is never kept.
func WithUserAgent(ctx context.Context, userAgent string) context.Context {
	return context.WithValue(ctx, deviceKey{}, DeviceLabel(userAgent))
}

func deviceFrom(ctx context.Context) string {
	d, _ := ctx.Value(deviceKey{}).(string)
	return d
}

// DeviceLabel reduces a user-agent string to a browser and a system from short
// fixed lists ("Chrome on Android", "Safari on iOS", "a browser on Windows"), or
// "" when it names neither. Only words of the lists can come out, so the label
// cannot carry anything that tells one visitor from another, as a full
// user-agent string or a parser that copies names out of it would.
func DeviceLabel(userAgent string) string {
	ua := strings.ToLower(userAgent)
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(ua, x) {
				return true
			}
		}
		return false
	}
	browser := ""
	switch {
	case has("edg/", "edga/", "edgios/"):
		browser = "Edge"
	case has("opr/", "opera"):
		browser = "Opera"
	case has("firefox/", "fxios/"):
		browser = "Firefox"
	case has("chrome/", "chromium/", "crios/"):
		browser = "Chrome"
	case has("safari/") && has("version/"):
		browser = "Safari"
	}
	system := ""
	switch {
	case has("android"):
		system = "Android"
	case has("iphone", "ipad", "ipod"):
		system = "iOS"
	case has("windows"):
		system = "Windows"
	case has("cros"):
		system = "ChromeOS"
	case has("mac os x", "macintosh"):
		system = "macOS"
	case has("linux"):
		system = "Linux"
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "a browser on " + system
	}
	return ""
}

// SessionView is a session as its member sees it in their list.
type SessionView struct {
	// ID names the session to RevokeSession: the stored hash of its token, which
	// cannot be turned back into the token.
	ID string `json:"id"`
	Session
	Current bool `json:"current"` // the session of this request
}

// MySessions lists the signed-in member's sessions, oldest first. Returns
// ErrUnauthorized when no one is signed in.
func (s *Service) MySessions(ctx context.Context) ([]SessionView, error) {
	a, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	list, err := s.store.Sessions(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	cur, _ := current(ctx)
	out := make([]SessionView, 0, len(list))
	for _, sess := range list {
		out = append(out, SessionView{ID: sess.Hash, Session: sess, Current: sess.Hash == cur.Hash})
	}
	return out, nil
}

// RevokeSession ends one of the signed-in member's sessions; its token is refused
// from then on. Returns ErrUnauthorized when no one is signed in and ErrNotFound
// when the member has no session id.
func (s *Service) RevokeSession(ctx context.Context, id string) error {
	a, err := signedIn(ctx)
	if err != nil {
		return err
	}
	if len(id) != 64 {
		return privacy.Errorf(privacy.ErrNotFound, "no such session")
	}
	return s.store.DeleteSessionOf(ctx, a.ID, id)
}

// RevokeOtherSessions ends every session of the signed-in member but this one and
// returns how many. Returns ErrUnauthorized when no one is signed in.
func (s *Service) RevokeOtherSessions(ctx context.Context) (int, error) {
	a, err := signedIn(ctx)
	if err != nil {
		return 0, err
	}
	cur, _ := current(ctx)
	return s.store.DeleteOtherSessions(ctx, a.ID, cur.Hash)
}

// errStepUp asks for a fresh proof; the field names what the client asks for.
func errStepUp() error {
	return &privacy.Error{Kind: privacy.ErrForbidden, Field: "proof",
		Message: "confirm it is you first: give your password, a code from your authenticator app or a passkey"}
}

// fresh returns nil when the member proved who they are in this session within
// Config.StepUpWindow, else ErrForbidden naming the field "proof".
func (s *Service) fresh(ctx context.Context) error {
	sess, ok := current(ctx)
	if !ok || sess.Proved.IsZero() || s.now().Sub(sess.Proved) > s.cfg.StepUpWindow {
		return errStepUp()
	}
	return nil
}

// proved records a fresh proof in this request's session, when it has one.
func (s *Service) proved(ctx context.Context) error {
	sess, ok := current(ctx)
	if !ok {
		return nil
	}
	return s.store.SetSessionProved(ctx, sess.Hash, s.now())
}

// Confirm records a fresh proof of who the signed-in member is in this session:
// the password, or a code from a second factor (which is then used up); a
// passkey is the other proof (BeginPasskeyConfirm, ConfirmWithPasskey). For
// Config.StepUpWindow the session may then change the address or password,
// delete the account, export its data or turn a factor off. Returns
// ErrUnauthorized when no one is signed in or the context has no session
// (WithSession), ErrInvalid naming "password" or "code", and ErrUnavailable when
// no hash slot came free.
func (s *Service) Confirm(ctx context.Context, password, code string) error {
	a, err := s.me(ctx)
	if err != nil {
		return err
	}
	if _, ok := current(ctx); !ok {
		return privacy.Errorf(privacy.ErrUnauthorized, "sign in first")
	}
	switch {
	case password != "" && code != "":
		return privacy.Invalid("code", "give the password or a code, not both")
	case code != "":
		fs, err := s.store.Factors(ctx, a.ID)
		if err != nil {
			return err
		}
		if len(confirmed(fs)) == 0 {
			return privacy.Invalid("code", "you have no second factor; give your password")
		}
		err = s.proveFactor(ctx, a, fs, code)
		if err != nil {
			return err
		}
	default:
		if err := s.checkCurrent(ctx, a, "password", password); err != nil {
			return err
		}
	}
	return s.proved(ctx)
}
