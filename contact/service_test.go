package contact_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/contact"
	contactmem "github.com/consentkit/consentkit/contact/memstore"
	contactmysql "github.com/consentkit/consentkit/contact/mysqlstore"
	"github.com/consentkit/consentkit/internal/mysqltest"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/mailtest"
	privacymem "github.com/consentkit/consentkit/privacy/memstore"
	privacymysql "github.com/consentkit/consentkit/privacy/mysqlstore"
	"github.com/consentkit/consentkit/privacy/web"
)

var refPattern = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

func TestNew(t *testing.T) {
	policy := mailtest.Policy()
	mailer := privacy.NewMailer(policy, privacymem.New(), nil)
	ok := contact.Config{Store: contactmem.New(), Mailer: mailer, Auditor: &privacy.Auditor{Log: privacymem.New()}, SupportInbox: inbox}
	_, err := contact.New(ok)
	require.NoError(t, err)

	cases := []struct {
		name   string
		mutate func(*contact.Config)
		want   string
	}{
		{"ErrStoreRequired", func(c *contact.Config) { c.Store = nil }, "Store"},
		{"ErrMailerRequired", func(c *contact.Config) { c.Mailer = nil }, "Mailer"},
		{"ErrAuditorRequired", func(c *contact.Config) { c.Auditor = nil }, "Auditor"},
		{"ErrAuditorLogRequired", func(c *contact.Config) { c.Auditor = &privacy.Auditor{} }, "Auditor"},
		{"ErrInboxRequired", func(c *contact.Config) { c.SupportInbox = "" }, "SupportInbox"},
		{"ErrInboxNotOperator", func(c *contact.Config) { c.SupportInbox = "help@elsewhere.example.net" }, "operator"},
		{"ErrBadStaffURL", func(c *contact.Config) { c.StaffURL = "javascript:alert(1)" }, "StaffURL"},
		{"ErrBadCategory", func(c *contact.Config) { c.Categories = []string{"ok", "bad\r\nBcc: x"} }, "category"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			_, err := contact.New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestValidate(t *testing.T) {
	e := newEnv(t, "mem")
	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []struct {
		name   string
		mutate func(*contact.Submission)
		field  string // "" when valid
	}{
		{"OK", func(*contact.Submission) {}, ""},
		{"NameOptional", func(s *contact.Submission) { s.Name = "" }, ""},
		{"CategoryOptional", func(s *contact.Submission) { s.Category = "" }, ""},
		{"LessThanIsNotMarkup", func(s *contact.Submission) { s.Message = "is a < b? I <3 it" }, ""},
		{"UnicodeName", func(s *contact.Submission) { s.Name = "Zoë Ørsted-Łukasiewicz 山田" }, ""},
		{"NameAtLimit", func(s *contact.Submission) { s.Name = long(contact.MaxName) }, ""},
		{"MessageAtLimit", func(s *contact.Submission) { s.Message = long(contact.DefaultMaxMessage) }, ""},

		{"ErrNameTooLong", func(s *contact.Submission) { s.Name = long(contact.MaxName + 1) }, "name"},
		{"ErrNameCRLF", func(s *contact.Submission) { s.Name = "Ann\r\nBcc: victim@example.net" }, "name"},
		{"ErrNameLF", func(s *contact.Submission) { s.Name = "Ann\nExample" }, "name"},
		{"ErrNameNUL", func(s *contact.Submission) { s.Name = "Ann\x00" }, "name"},
		{"ErrNameInvalidUTF8", func(s *contact.Submission) { s.Name = "Ann\xff" }, "name"},
		{"ErrNameMarkup", func(s *contact.Submission) { s.Name = `<a href="https://spam.example">win</a>` }, "name"},
		{"ErrNameBidiOverride", func(s *contact.Submission) { s.Name = "Ann\u202egpj.exe" }, "name"},
		{"ErrEmailRequired", func(s *contact.Submission) { s.Email = "" }, "email"},
		{"ErrEmailInvalid", func(s *contact.Submission) { s.Email = "not-an-address" }, "email"},
		{"ErrEmailDisplayName", func(s *contact.Submission) { s.Email = "Ann <ann@example.org>" }, "email"},
		{"ErrEmailCRLF", func(s *contact.Submission) { s.Email = "ann@example.org\r\nBcc: victim@example.net" }, "email"},
		{"ErrEmailList", func(s *contact.Submission) { s.Email = "ann@example.org,victim@example.net" }, "email"},
		{"ErrEmailNUL", func(s *contact.Submission) { s.Email = "ann\x00@example.org" }, "email"},
		{"ErrSubjectRequired", func(s *contact.Submission) { s.Subject = "  " }, "subject"},
		{"ErrSubjectTooLong", func(s *contact.Submission) { s.Subject = long(contact.MaxSubject + 1) }, "subject"},
		{"ErrSubjectCRLF", func(s *contact.Submission) { s.Subject = "Hi\r\nBcc: victim@example.net" }, "subject"},
		{"ErrSubjectCR", func(s *contact.Submission) { s.Subject = "Hi\rthere" }, "subject"},
		{"ErrSubjectLineSeparator", func(s *contact.Submission) { s.Subject = "Hi\u2028there" }, "subject"},
		{"ErrSubjectScript", func(s *contact.Submission) { s.Subject = "<script>alert(1)</script>" }, "subject"},
		{"ErrMessageRequired", func(s *contact.Submission) { s.Message = "\n \n" }, "message"},
		{"ErrMessageTooLong", func(s *contact.Submission) { s.Message = long(contact.DefaultMaxMessage + 1) }, "message"},
		{"ErrMessageNUL", func(s *contact.Submission) { s.Message = "hello\x00world" }, "message"},
		{"ErrMessageEscape", func(s *contact.Submission) { s.Message = "hello\x1b[31mred" }, "message"},
		{"ErrMessageInvalidUTF8", func(s *contact.Submission) { s.Message = "caf\xe9" }, "message"},
		{"ErrMessageScript", func(s *contact.Submission) { s.Message = "hi <script>alert(1)</script>" }, "message"},
		{"ErrMessageLink", func(s *contact.Submission) { s.Message = `<a href="https://spam.example">cheap</a>` }, "message"},
		{"ErrMessageComment", func(s *contact.Submission) { s.Message = "<!-- hidden -->" }, "message"},
		{"ErrCategoryUnknown", func(s *contact.Submission) { s.Category = "Billing" }, "category"},
		{"ErrCategoryCRLF", func(s *contact.Submission) { s.Category = "Support\r\nBcc: x" }, "category"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := valid()
			tc.mutate(&in)
			out, err := e.svc.Validate(in)
			if tc.field == "" {
				require.NoError(t, err)
				assert.Equal(t, in.Message, out.Message)
				return
			}
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
			assert.Equal(t, 400, web.HTTPStatus(err))
		})
	}

	t.Run("Normalises", func(t *testing.T) {
		out, err := e.svc.Validate(contact.Submission{Name: "  Ann  ", Email: " Ann@EXAMPLE.org ", Subject: " Hi ",
			Message: "one\r\ntwo\rthree\n", Category: " Support "})
		require.NoError(t, err)
		assert.Equal(t, contact.Submission{Name: "Ann", Email: "Ann@example.org", Subject: "Hi", Message: "one\ntwo\nthree\n", Category: "Support"}, out)
	})
	t.Run("EveryFaultAtOnce", func(t *testing.T) {
		_, err := e.svc.Validate(contact.Submission{Name: "a\nb", Email: "x", Subject: "", Message: "", Category: "nope"})
		require.Error(t, err)
		var fields []string
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			fields = append(fields, privacy.FieldOf(e))
		}
		assert.Equal(t, []string{"name", "email", "subject", "message", "category"}, fields)
	})
	t.Run("AllowMarkup", func(t *testing.T) {
		e := newEnv(t, "mem", func(c *contact.Config, _ *contact.HandlerConfig) { c.AllowMarkup = true })
		in := valid()
		in.Message = "my template prints <nil>"
		_, err := e.svc.Validate(in)
		require.NoError(t, err)
		in.Subject = "<b>bold</b>"
		_, err = e.svc.Validate(in)
		assert.Equal(t, "subject", privacy.FieldOf(err), "markup stays out of single-line fields")
	})
}

func TestSubmit(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		r, err := e.svc.Submit(context.Background(), valid())
		require.NoError(t, err)
		assert.Regexp(t, refPattern, r.Ref)
		assert.Equal(t, contact.StatusOpen, r.Status)
		assert.True(t, r.Created.Equal(e.clock.Now()))

		got, err := e.store.Get(context.Background(), r.Ref)
		require.NoError(t, err)
		assert.Equal(t, valid().Message, got.Message)
		assert.Equal(t, visitor, got.Email)
		assert.False(t, got.AckSent, "no acknowledgement by default")

		msgs := e.mail.Server.Wait(1, 5*time.Second)
		require.Len(t, msgs, 1)
		n := msgs[0]
		assert.Equal(t, []string{inbox}, n.To, "the notification goes to the operator's inbox only")
		assert.Contains(t, n.Header.Get("To"), inbox)
		assert.Contains(t, n.Header.Get("From"), "noreply@example.com")
		assert.Contains(t, n.Header.Get("Reply-To"), visitor)
		assert.Empty(t, n.Header.Get("Cc"))
		assert.Empty(t, n.Header.Get("Bcc"))
		assert.Equal(t, "["+r.Ref+"] Order 1234 has not arrived", n.Subject())
		assert.Contains(t, n.Text, "my order has not arrived yet.")
		assert.Contains(t, n.Text, "https://example.com/contact/requests/"+r.Ref)
		time.Sleep(100 * time.Millisecond)
		assert.Len(t, e.mail.Server.Messages(), 1, "nothing is mailed to the visitor")
	})
}

func TestSubmitRefusedNotificationStoresNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		require.NoError(t, e.priv.Suppress(ctx, inbox, "test", e.clock.Now()))
		_, err := e.svc.Submit(ctx, valid())
		require.ErrorIs(t, err, privacy.ErrUnavailable)
		assert.Equal(t, 503, web.HTTPStatus(err))
		reqs, msgs := e.count(t)
		assert.Zero(t, reqs, "a request whose notification cannot be sent is not kept")
		assert.Zero(t, msgs)
	})
}

// A host enlists Submit in its own unit of work: when the host's later step fails,
// the request and its queued notification are both withdrawn; when it succeeds,
// both are kept.
func TestSubmitInHostUnitOfWork(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		boom := errors.New("the host's later step failed")
		err := e.store.Do(ctx, func(ctx context.Context) error {
			if _, err := e.svc.Submit(ctx, valid()); err != nil {
				return err
			}
			rs, err := e.store.List(ctx, contact.Filter{})
			require.NoError(t, err)
			assert.Len(t, rs, 1, "the unit of work sees its request")
			return boom
		})
		require.ErrorIs(t, err, boom)
		reqs, msgs := e.count(t)
		assert.Zero(t, reqs)
		assert.Zero(t, msgs, "the queued notification is withdrawn with the request")

		require.NoError(t, e.store.Do(ctx, func(ctx context.Context) error {
			_, err := e.svc.Submit(ctx, valid())
			return err
		}))
		reqs, msgs = e.count(t)
		assert.Equal(t, 1, reqs)
		assert.Equal(t, 1, msgs)
		assert.Len(t, e.mail.Server.Wait(1, 5*time.Second), 1, "the committed notification is delivered")
	})
}

// New refuses a store a unit of work cannot span with the Mailer's: a MySQL
// contact store beside a memory privacy store, or two MySQL pools.
func TestNewRefusesStoresOnTwoDatabases(t *testing.T) {
	policy := mailtest.Policy()
	db := mysqltest.New(t)
	mysqlStore := contactmysql.New(db)
	cases := map[string]struct {
		store  contact.Store
		outbox privacy.Store
	}{
		"MySQLBesideMemory": {mysqlStore, privacymem.New()},
		"MemoryBesideMySQL": {contactmem.New(), privacymysql.New(db)},
		"TwoPools":          {mysqlStore, privacymysql.New(mysqltest.New(t))},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := contact.New(contact.Config{Store: tc.store, Mailer: privacy.NewMailer(policy, tc.outbox, nil),
				Auditor: &privacy.Auditor{Log: tc.outbox}, SupportInbox: inbox})
			require.ErrorContains(t, err, "must be on one database")
			assert.ErrorContains(t, err, "contact")
		})
	}
	_, err := contact.New(contact.Config{Store: mysqlStore, Mailer: privacy.NewMailer(policy, privacymysql.New(db), nil),
		Auditor: &privacy.Auditor{Log: privacymem.New()}, SupportInbox: inbox})
	require.NoError(t, err, "one pool is one database")
}

func TestRefCollisionRetried(t *testing.T) {
	e := newEnv(t, "mem", func(c *contact.Config, _ *contact.HandlerConfig) {
		same := bytes.Repeat([]byte{7}, 8)
		c.Rand = bytes.NewReader(append(append(append([]byte{}, same...), same...), bytes.Repeat([]byte{9}, 8)...))
	})
	a, err := e.svc.Submit(context.Background(), valid())
	require.NoError(t, err)
	b, err := e.svc.Submit(context.Background(), valid())
	require.NoError(t, err)
	assert.Equal(t, "7777-7777", a.Ref)
	assert.Equal(t, "9999-9999", b.Ref)
	reqs, _ := e.count(t)
	assert.Equal(t, 2, reqs)
	assert.Len(t, e.mail.Server.Wait(2, 5*time.Second), 2, "one notification per stored request")
}

func TestNewRefIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		r, err := contact.NewRef(nil)
		require.NoError(t, err)
		require.Regexp(t, refPattern, r)
		require.False(t, seen[r], "ref %s repeated", r)
		seen[r] = true
	}
}

func TestParseRef(t *testing.T) {
	cases := []struct{ in, want string }{
		{"K7Q4-M2XH", "K7Q4-M2XH"},
		{"k7q4-m2xh", "K7Q4-M2XH"},
		{"K7Q4M2XH", "K7Q4-M2XH"},
		{" k7q4m2xh ", "K7Q4-M2XH"},
		{"OIL0-0000", "0110-0000"},
		{"K7Q4-M2X", ""},
		{"K7Q4-M2XHH", ""},
		{"K7Q4_M2XH", ""},
		{"K7Q4-M2XU", ""},
		{"../../etc", ""},
		{"", ""},
	}
	for _, tc := range cases {
		got, err := contact.ParseRef(tc.in)
		if tc.want == "" {
			assert.ErrorIs(t, err, privacy.ErrNotFound, "ParseRef(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "ParseRef(%q)", tc.in)
		assert.Equal(t, tc.want, got, "ParseRef(%q)", tc.in)
	}
}

func TestAllower(t *testing.T) {
	e := newEnv(t, "mem")
	ctx := context.Background()
	open, err := e.svc.Submit(ctx, valid())
	require.NoError(t, err)
	closed := valid()
	closed.Email = "bob@example.org"
	c, err := e.svc.Submit(ctx, closed)
	require.NoError(t, err)
	require.NoError(t, e.svc.Close(support, c.Ref))

	allows := func(p privacy.Purpose, addr string) bool {
		ok, err := e.svc.Allows(ctx, p, addr)
		require.NoError(t, err)
		return ok
	}
	assert.True(t, allows(contact.PurposeSupport, visitor), "open request")
	assert.False(t, allows(privacy.Purpose("newsletter"), visitor), "a contact address is not a newsletter address")
	assert.False(t, allows(privacy.Purpose("comment-follow-up"), visitor))
	assert.True(t, allows(contact.PurposeSupport, "bob@example.org"), "closed within the answer window")
	e.clock.Add(contact.DefaultAnswerWindow + time.Second)
	assert.False(t, allows(contact.PurposeSupport, "bob@example.org"), "closed long ago")
	assert.True(t, allows(contact.PurposeSupport, visitor), "open requests stay answerable")
	assert.False(t, allows(contact.PurposeSupport, "stranger@example.org"))
	_ = open

	// Through the purpose guard: support mail to someone who never wrote is refused.
	_, err = e.mail.Mailer.Send(ctx, privacy.Message{Purpose: contact.PurposeSupport, DataSubject: "stranger@example.org",
		To: privacy.Address{Email: "stranger@example.org"}, Subject: "hello", Text: "unsolicited"})
	var re *privacy.RefusalError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, privacy.RefusedPurpose, re.Reason)
}

func TestStaffNeedsSupportRole(t *testing.T) {
	e := newEnv(t, "mem")
	r, err := e.svc.Submit(context.Background(), valid())
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		kind error
	}{
		{"Anonymous", context.Background(), privacy.ErrUnauthorized},
		{"Moderator", staff(privacy.RoleModerator), privacy.ErrForbidden},
		{"Editor", staff(privacy.RoleEditor), privacy.ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.List(tc.ctx, contact.Filter{})
			assert.ErrorIs(t, err, tc.kind)
			got, err := e.svc.Get(tc.ctx, r.Ref)
			assert.ErrorIs(t, err, tc.kind)
			assert.Empty(t, got.Email)
			_, err = e.svc.Reply(tc.ctx, r.Ref, "hello")
			assert.ErrorIs(t, err, tc.kind)
			assert.ErrorIs(t, e.svc.Close(tc.ctx, r.Ref), tc.kind)
		})
	}
	assert.Empty(t, e.access(t), "refused staff calls read nothing, so record nothing")
	got, err := e.store.Get(context.Background(), r.Ref)
	require.NoError(t, err)
	assert.Equal(t, contact.StatusOpen, got.Status)
	assert.Empty(t, got.Thread)

	_, err = e.svc.List(staff(privacy.RoleAdmin), contact.Filter{})
	assert.NoError(t, err, "admins hold every role")
}

// failingLog refuses every access record.
type failingLog struct{ privacy.AccessLog }

func (failingLog) RecordAccess(context.Context, privacy.Access) error {
	return errors.New("access log unavailable")
}

func TestReadsAreRecordedFirst(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		r, err := e.svc.Submit(context.Background(), valid())
		require.NoError(t, err)
		other := valid()
		other.Email = "bob@example.org"
		_, err = e.svc.Submit(context.Background(), other)
		require.NoError(t, err)

		got, err := e.svc.Get(support, strings.ToLower(r.Ref))
		require.NoError(t, err)
		assert.Equal(t, valid().Message, got.Message)
		as := e.access(t)
		require.Len(t, as, 1)
		assert.Equal(t, visitor, as[0].Subject)
		assert.Equal(t, "staff-1", as[0].ActorID)
		assert.Equal(t, privacy.RoleSupport, as[0].Role)
		assert.Equal(t, "contact request "+r.Ref, as[0].What)

		list, err := e.svc.List(support, contact.Filter{})
		require.NoError(t, err)
		require.Len(t, list, 2)
		as = e.access(t)
		require.Len(t, as, 3, "a list records one access per request shown")
		subjects := []string{as[0].Subject, as[1].Subject}
		assert.ElementsMatch(t, []string{visitor, "bob@example.org"}, subjects)

		_, err = e.svc.Get(support, "ZZZZ-ZZZZ")
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		assert.Len(t, e.access(t), 3, "nothing read, nothing recorded")

		_, err = e.svc.List(support, contact.Filter{Status: "pending"})
		assert.Equal(t, "status", privacy.FieldOf(err))
	})

	t.Run("NoRecordNoData", func(t *testing.T) {
		e := newEnv(t, "mem", func(c *contact.Config, _ *contact.HandlerConfig) {
			c.Auditor = &privacy.Auditor{Log: failingLog{}}
		})
		r, err := e.svc.Submit(context.Background(), valid())
		require.NoError(t, err)
		got, err := e.svc.Get(support, r.Ref)
		require.Error(t, err)
		assert.Equal(t, contact.Request{}, got, "no data leaves without its access record")
		list, err := e.svc.List(support, contact.Filter{})
		require.Error(t, err)
		assert.Nil(t, list)
		_, err = e.svc.Reply(support, r.Ref, "hello")
		require.Error(t, err)
		time.Sleep(50 * time.Millisecond)
		assert.Len(t, e.mail.Server.Messages(), 1, "no reply without its access record")
	})
}

func TestMailReachesOnlyItsParty(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		in := valid()
		in.Message = "Secret order details\r\nBcc: victim@example.net\r\n\r\nthanks"
		r, err := e.svc.Submit(context.Background(), in)
		require.NoError(t, err)
		msgs := e.mail.Server.Wait(1, 5*time.Second)
		require.Len(t, msgs, 1)
		assert.Equal(t, []string{inbox}, msgs[0].To)
		assert.Empty(t, msgs[0].Header.Get("Bcc"), "a header in the message stays in the body")
		assert.Contains(t, msgs[0].Text, "Bcc: victim@example.net")

		rep, err := e.svc.Reply(support, r.Ref, "Your parcel left our warehouse today.\nRegards, Support")
		require.NoError(t, err)
		assert.Equal(t, "staff@example.com", rep.Staff)
		msgs = e.mail.Server.Wait(2, 5*time.Second)
		require.Len(t, msgs, 2)
		reply := msgs[1]
		assert.Equal(t, []string{visitor}, reply.To, "the reply goes to the requester only")
		assert.Equal(t, "<"+visitor+">", strings.TrimSpace(reply.Header.Get("To")), "the visitor's name is not echoed to the address")
		assert.Contains(t, reply.Header.Get("Reply-To"), inbox)
		assert.Equal(t, "Re: Order 1234 has not arrived ["+r.Ref+"]", reply.Subject())
		assert.Contains(t, reply.Text, "Your parcel left our warehouse today.")
		assert.NotContains(t, reply.Text, "Secret order details", "the reply quotes nothing the visitor wrote")
		assert.Empty(t, reply.Header.Get("Cc"))
		assert.Empty(t, reply.Header.Get("Bcc"))

		got, err := e.store.Get(context.Background(), r.Ref)
		require.NoError(t, err)
		require.Len(t, got.Thread, 1, "the reply is kept in the request's thread")
		assert.Equal(t, "Your parcel left our warehouse today.\nRegards, Support", got.Thread[0].Text)

		time.Sleep(100 * time.Millisecond)
		all := e.mail.Server.Messages()
		require.Len(t, all, 2)
		for _, m := range all {
			for _, to := range m.To {
				assert.Contains(t, []string{inbox, visitor}, to, "mail only to the operator or the requester")
			}
		}
		assert.Empty(t, e.mail.Server.To("victim@example.net"))

		t.Run("ErrText", func(t *testing.T) {
			_, err := e.svc.Reply(support, r.Ref, " \n ")
			assert.Equal(t, "text", privacy.FieldOf(err))
			_, err = e.svc.Reply(support, r.Ref, "nul\x00")
			assert.Equal(t, "text", privacy.FieldOf(err))
		})
		t.Run("ErrConflictWhenBounced", func(t *testing.T) {
			ctx := context.Background()
			require.NoError(t, e.priv.Suppress(ctx, visitor, "550", e.clock.Now()))
			_, before := e.count(t)
			_, err := e.svc.Reply(support, r.Ref, "are you there?")
			assert.ErrorIs(t, err, privacy.ErrConflict)
			assert.Contains(t, web.Describe(err).Error.Message, "can no longer be mailed")
			_, after := e.count(t)
			assert.Equal(t, before, after)
			got, err := e.store.Get(ctx, r.Ref)
			require.NoError(t, err)
			assert.Len(t, got.Thread, 1, "a reply that was not sent is not kept")
		})
		t.Run("ErrConflictWhenClosed", func(t *testing.T) {
			require.NoError(t, e.svc.Close(support, r.Ref))
			require.NoError(t, e.svc.Close(support, r.Ref), "closing twice is fine")
			_, before := e.count(t)
			_, err := e.svc.Reply(support, r.Ref, "one more thing")
			assert.ErrorIs(t, err, privacy.ErrConflict)
			_, after := e.count(t)
			assert.Equal(t, before, after, "no mail for a closed request")
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := e.svc.Reply(support, "ZZZZ-ZZZZ", "hello")
			assert.ErrorIs(t, err, privacy.ErrNotFound)
			assert.ErrorIs(t, e.svc.Close(support, "ZZZZ-ZZZZ"), privacy.ErrNotFound)
			assert.ErrorIs(t, e.svc.Close(support, "bad"), privacy.ErrNotFound)
		})
	})
}

func TestAcknowledgement(t *testing.T) {
	e := newEnv(t, "mem", func(c *contact.Config, _ *contact.HandlerConfig) { c.Acknowledge = true })
	ctx := context.Background()
	in := valid()
	in.Name = "Buy cheap pills at spam.example"
	in.Subject = "Visit spam.example now"
	in.Message = "Spam text that must never reach the address typed"
	r, err := e.svc.Submit(ctx, in)
	require.NoError(t, err)
	msgs := e.mail.Server.Wait(2, 5*time.Second)
	require.Len(t, msgs, 2)
	acks := e.mail.Server.To(visitor)
	require.Len(t, acks, 1)
	ack := acks[0]
	assert.Equal(t, "We received your message", ack.Subject())
	assert.Equal(t, "<"+visitor+">", strings.TrimSpace(ack.Header.Get("To")))
	for _, typed := range []string{"spam.example", "pills", "Spam text"} {
		assert.NotContains(t, string(ack.Raw), typed, "the acknowledgement carries nothing the visitor typed")
	}
	assert.Contains(t, ack.Text, r.Ref)

	// A second request from the same address within a day is not acknowledged.
	e.clock.Add(time.Hour)
	in.Email = "ANN@example.org"
	_, err = e.svc.Submit(ctx, in)
	require.NoError(t, err)
	e.mail.Server.Wait(3, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, e.mail.Server.Messages(), 3, "a notification, but no second acknowledgement")

	e.clock.Add(contact.DefaultAckInterval)
	_, err = e.svc.Submit(ctx, valid())
	require.NoError(t, err)
	msgs = e.mail.Server.Wait(5, 5*time.Second)
	assert.Len(t, msgs, 5, "acknowledged again after the interval")
	assert.Len(t, e.mail.Server.To(visitor), 2)
}

func TestRetention(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		closed, err := e.svc.Submit(ctx, valid())
		require.NoError(t, err)
		open, err := e.svc.Submit(ctx, valid())
		require.NoError(t, err)
		require.NoError(t, e.svc.Close(support, closed.Ref))
		closedAt := e.clock.Now()

		reg := &privacy.Registry{}
		reg.Register(e.svc)
		n, err := reg.Purge(ctx, closedAt.Add(179*24*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 0, n["contact"])
		n, err = reg.Purge(ctx, closedAt.Add(181*24*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 1, n["contact"], "closed requests go after 180 days")
		_, err = e.store.Get(ctx, closed.Ref)
		assert.ErrorIs(t, err, privacy.ErrNotFound)
		_, err = e.store.Get(ctx, open.Ref)
		assert.NoError(t, err, "open requests are kept")
	})
	t.Run("ConfigRetention", func(t *testing.T) {
		policy := mailtest.Policy()
		store := contactmem.New()
		svc, err := contact.New(contact.Config{Store: store, Mailer: privacy.NewMailer(policy, privacymem.New(), nil),
			Auditor: &privacy.Auditor{Log: privacymem.New()}, SupportInbox: inbox, Retention: 30 * 24 * time.Hour})
		require.NoError(t, err)
		reg := &privacy.Registry{}
		reg.Register(svc)
		page, err := web.PolicyMarkdown(policy, reg)
		require.NoError(t, err)
		assert.Contains(t, string(page), "| Messages sent through the contact form | 30 days after the request is closed |",
			"the page states the retention the purge enforces")
		assert.NotContains(t, string(page), "6 months")
		now := time.Now().UTC()
		require.NoError(t, store.Create(context.Background(), &contact.Request{Ref: "AAAA-AAAA", Email: visitor, Status: contact.StatusClosed,
			Created: now, Updated: now, Closed: now}))
		n, err := svc.Purge(context.Background(), now.Add(29*24*time.Hour))
		require.NoError(t, err)
		assert.Zero(t, n)
		n, err = svc.Purge(context.Background(), now.Add(31*24*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 1, n, "Config.Retention wins over the default")
	})
}

func TestExportErase(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		ctx := context.Background()
		reg := &privacy.Registry{}
		reg.Register(e.svc)
		require.NoError(t, reg.Check(), "the contract adds up")

		r, err := e.svc.Submit(ctx, valid())
		require.NoError(t, err)
		_, err = e.svc.Reply(support, r.Ref, "We are on it.")
		require.NoError(t, err)
		other := valid()
		other.Email = "bob@example.org"
		_, err = e.svc.Submit(ctx, other)
		require.NoError(t, err)

		out, err := reg.Export(ctx, "ANN@Example.org")
		require.NoError(t, err)
		got, ok := out["contact"].([]contact.ExportedRequest)
		require.True(t, ok, "export is %T", out["contact"])
		require.Len(t, got, 1)
		assert.Equal(t, r.Ref, got[0].Ref)
		assert.Equal(t, valid().Message, got[0].Message)
		require.Len(t, got[0].Replies, 1)
		assert.Equal(t, "We are on it.", got[0].Replies[0].Text)

		res, err := reg.Erase(ctx, visitor)
		require.NoError(t, err)
		require.Len(t, res, 1)
		assert.Equal(t, privacy.Erasure{Holder: "contact", Removed: 1}, res[0])
		out, err = reg.Export(ctx, visitor)
		require.NoError(t, err)
		assert.Nil(t, out["contact"])
		ok2, err := e.svc.Allows(ctx, contact.PurposeSupport, visitor)
		require.NoError(t, err)
		assert.False(t, ok2, "an erased address may not be mailed")
		bob, err := reg.Export(ctx, "bob@example.org")
		require.NoError(t, err)
		assert.NotNil(t, bob["contact"], "others are untouched")

		_, err = e.svc.Export(ctx, "not an address")
		assert.ErrorIs(t, err, privacy.ErrInvalid)
	})
}

// Visitors writing at once while the dispatcher claims the outbox: every request is
// kept and its notification delivered once (MySQL; the outbox claims with SKIP LOCKED).
func TestConcurrentSubmits(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind)
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				in := valid()
				in.Email = fmt.Sprintf("visitor%d@example.org", i)
				_, errs[i] = e.svc.Submit(context.Background(), in)
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		reqs, msgs := e.count(t)
		assert.Equal(t, n, reqs)
		assert.Equal(t, n, msgs)
		got := e.mail.Server.Wait(n, 10*time.Second)
		require.Len(t, got, n)
		replyTo := map[string]bool{}
		for _, m := range got {
			assert.Equal(t, []string{inbox}, m.To)
			replyTo[m.Header.Get("Reply-To")] = true
		}
		assert.Len(t, replyTo, n, "one notification per request, none twice")
	})
}
