package newsletter_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/newsletter"
	"github.com/consentkit/consentkit/privacy"
)

// siteLists are lists a host defines: two under the newsletter purpose, one under
// promotions.
var siteLists = []newsletter.ListDef{
	{Name: "weekly", Title: "Weekly digest", Description: "The week's posts, on Mondays", Purpose: newsletter.PurposeNewsletter},
	{Name: "releases", Title: "Release notes", Purpose: newsletter.PurposeNewsletter},
	{Name: "deals", Title: "Deals", Description: "Offers <b>now</b> and then", Purpose: newsletter.PurposePromotions},
}

func withLists(defs []newsletter.ListDef) option {
	return func(c *newsletter.Config, _ *newsletter.HandlerConfig) { c.Lists = defs }
}

// TestSiteLists: the lists a host defines are the ones its pages offer, its
// campaigns reach one by one, its consent records name and its policy lists; two
// lists under one purpose are still separate opt-ins.
func TestSiteLists(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, withLists(siteLists))
		ctx := context.Background()

		res := e.do(t, http.MethodGet, "/newsletter/subscribe", "", "")
		require.Equal(t, http.StatusOK, res.Code)
		assert.Contains(t, res.Body, `name="weekly" type="checkbox"`)
		assert.Contains(t, res.Body, "Weekly digest: The week&#39;s posts, on Mondays")
		assert.Contains(t, res.Body, `name="releases" type="checkbox"`)
		assert.Contains(t, res.Body, "Deals: Offers &lt;b&gt;now&lt;/b&gt; and then", "a list's words are text, not markup")
		assert.NotContains(t, res.Body, `name="newsletter"`, "the defaults are replaced, not added to")
		res = e.do(t, http.MethodGet, "/newsletter/subscribe", "", "", "Accept", "application/json")
		assert.Contains(t, res.Body, `"lists":["weekly","releases","deals"]`)

		// The form: one list ticked, under a purpose two lists share.
		e.clock.Add(5e9)
		form := url.Values{"email": {ann}, "weekly": {"on"}, "ts": {e.signer.Stamp()}}
		e.clock.Add(5e9)
		res = e.do(t, http.MethodPost, "/newsletter/subscribe", "application/x-www-form-urlencoded", form.Encode())
		require.Equal(t, http.StatusOK, res.Code, res.Body)
		msgs := e.mails(t, ann, 1)
		assert.Equal(t, "Please confirm your subscription to Weekly digest of Example Ltd", msgs[0].Subject())
		_, err := e.svc.Confirm(ctx, token(t, link(t, msgs[0].Text, "confirm")))
		require.NoError(t, err)
		e.member(t, "bob@example.org", "releases", "deals")
		hist, err := e.priv.ConsentHistory(ctx, ann)
		require.NoError(t, err)
		require.Len(t, hist, 2)
		for i, src := range []string{"newsletter-form:weekly", "newsletter-confirm:weekly"} {
			assert.Equal(t, src, hist[i].Source, "the record names the list")
			assert.Equal(t, newsletter.PurposeNewsletter, hist[i].Purpose, "under the list's purpose")
		}
		assert.Equal(t, newsletter.StatusConfirmed, e.status(t, ann, "weekly"))
		assert.Empty(t, e.status(t, ann, "releases"), "ticking one list of a purpose joins that list only")

		// A campaign reaches its own list, not the other list of the same purpose.
		rel := e.campaign(t, "releases", "Release 2.0", "Out now.")
		e.campaign(t, "weekly", "This week", "Posts.")
		e.mails(t, "bob@example.org", 2)
		e.mails(t, ann, 2)
		e.settle(t)
		assert.Equal(t, []string{"Please confirm your subscription to Weekly digest of Example Ltd", "This week"}, e.subjects(ann))
		assert.Contains(t, e.subjects("bob@example.org"), "Release 2.0")
		assert.NotContains(t, e.subjects("bob@example.org"), "This week")
		ok, err := e.svc.AllowsMessage(ctx, &privacy.Message{Purpose: newsletter.PurposeNewsletter, DataSubject: ann, Ref: rel.Ref()})
		require.NoError(t, err)
		assert.False(t, ok, "the re-check before delivery holds a campaign to its list")
		ok, err = e.svc.AllowsMessage(ctx, &privacy.Message{Purpose: newsletter.PurposeNewsletter, DataSubject: ann, Ref: "campaign:999"})
		require.NoError(t, err)
		assert.False(t, ok, "a campaign that does not exist allows no one")

		// The preference page names the lists and leaves one.
		path := link(t, e.mails(t, "bob@example.org", 2)[1].Text, "preferences")
		res = e.do(t, http.MethodGet, path, "", "")
		assert.Contains(t, res.Body, "Release notes")
		assert.Contains(t, res.Body, "Weekly digest: The week&#39;s posts, on Mondays: not subscribed")
		res = e.do(t, http.MethodPost, path, "application/x-www-form-urlencoded", "deals=on")
		assert.Contains(t, res.Body, "You have left Release notes.")
		hist, err = e.priv.ConsentHistory(ctx, "bob@example.org")
		require.NoError(t, err)
		last := hist[len(hist)-1]
		assert.Equal(t, "newsletter-preferences:releases", last.Source)
		assert.False(t, last.Granted)

		// Lists the site does not define are refused by name.
		_, err = e.svc.CreateCampaign(editor(), newsletter.Draft{List: newsletter.ListNewsletter, Subject: "S", Markdown: "M"})
		assert.Equal(t, "list", privacy.FieldOf(err))
		assert.Equal(t, "lists", privacy.FieldOf(e.svc.Subscribe(ctx, ann, []newsletter.List{newsletter.ListNewsletter})))
	})
}

// TestSiteListsInPolicy: the policy names every list, and declares only the purposes
// the site's lists mail under.
func TestSiteListsInPolicy(t *testing.T) {
	e := newEnv(t, "mem", withLists(siteLists))
	c := e.svc.Contract()
	var purposes []privacy.Purpose
	for _, p := range c.Purposes {
		purposes = append(purposes, p.Purpose)
	}
	assert.Equal(t, []privacy.Purpose{newsletter.PurposeNewsletter, newsletter.PurposePromotions}, purposes)
	assert.Contains(t, c.Purposes[0].Description, "Weekly digest, Release notes")
	require.Len(t, c.Sections, 1)
	text := c.Sections[0].Text
	assert.Contains(t, text, "\n\n**Weekly digest** (news): The week's posts, on Mondays\n")
	assert.Contains(t, text, "\n\n**Release notes** (news)\n")
	assert.Contains(t, text, `**Deals** (offers): Offers \<b\>now\</b\> and then`, "a list's words stay literal in the Markdown")

	e = newEnv(t, "mem", withLists(siteLists[:1]))
	c = e.svc.Contract()
	require.Len(t, c.Purposes, 1, "a site with no promotions list collects no address for promotions")
	assert.Equal(t, newsletter.PurposeNewsletter, c.Purposes[0].Purpose)
	assert.NotContains(t, c.Sections[0].Text, "Deals")
}

func TestListDefsChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		defs []newsletter.ListDef
		want string
	}{
		{"empty", []newsletter.ListDef{}, "holds no list"},
		{"bad name", []newsletter.ListDef{{Name: "Weekly", Title: "W", Purpose: newsletter.PurposeNewsletter}}, `name "Weekly"`},
		{"reserved name", []newsletter.ListDef{{Name: "email", Title: "W", Purpose: newsletter.PurposeNewsletter}}, `name "email"`},
		{"long name", []newsletter.ListDef{{Name: newsletter.List(strings.Repeat("a", 33)), Title: "W", Purpose: newsletter.PurposeNewsletter}}, "1 to 32"},
		{"twice", []newsletter.ListDef{{Name: "w", Title: "W", Purpose: newsletter.PurposeNewsletter}, {Name: "w", Title: "X", Purpose: newsletter.PurposePromotions}}, `"w" is defined twice`},
		{"purpose", []newsletter.ListDef{{Name: "w", Title: "W", Purpose: privacy.Purpose("support")}}, "purpose"},
		{"title", []newsletter.ListDef{{Name: "w", Purpose: newsletter.PurposeNewsletter}}, "title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "mem")
			cfg := e.config
			cfg.Lists = tc.defs
			_, err := newsletter.New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
