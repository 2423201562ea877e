package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/consentkit/consentkit/privacy"
)

// TestStaffRolesInBrowser: an admin opens Staff from the staff navigation, is
// refused an address with no account beside the address's field, grants a
// registered member the moderator role by typing the address and clicking, sees
// it listed, and revokes it with the role's button; the member's session carries
// the role in between. Every state is checked with axe-core; no cookie, no
// console error.
func TestStaffRolesInBrowser(t *testing.T) {
	s, base := startSite(t, config{})
	b := newBrowser(t)
	const admin, helper = "chief@example.org", "helper@example.org"
	password := member(t, s, admin, "Chief", privacy.RoleAdmin)
	helperPassword := member(t, s, helper, "Helper")
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	roles := func() []privacy.Role {
		t.Helper()
		in, err := s.accounts.SignIn(context.Background(), helper, helperPassword)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.accounts.Actor(context.Background(), in.Token)
		if err != nil {
			t.Fatal(err)
		}
		return a.Roles
	}

	b.openStaff(t, base, admin, password, "/accounts/staff")
	b.waitText(t, "#page-title", "Staff")
	b.waitText(t, "#staff-view table", admin)
	if n := b.eval(t, `String(document.querySelectorAll("#staff-view form[action$='/staff/revoke']").length)`); n != "0" {
		t.Errorf("the admin is offered %s revoke buttons, want none: only another admin takes their role", n)
	}
	b.axe(t, "staff page")

	b.expect(404, "/accounts/staff/grant")
	b.do(t, "grant to an address with no account",
		chromedp.SendKeys(css(`#email`), "nobody@example.org"),
		chromedp.SetValue(css(`#role`), "moderator"),
		chromedp.Click(css(`#staff-view form[action$="/staff/grant"] button`)))
	b.waitText(t, "#email-error", "No member has an account with this email address")
	if got := b.eval(t, `document.getElementById("email").getAttribute("aria-describedby")`); got != "email-error" {
		t.Errorf("the address field is described by %q, want its error", got)
	}
	b.axe(t, "staff page, grant refused")

	b.eval(t, `document.getElementById("email").value = ""`) // what was typed is kept
	b.do(t, "grant the moderator role",
		chromedp.SendKeys(css(`#email`), helper),
		chromedp.SetValue(css(`#role`), "moderator"),
		chromedp.Click(css(`#staff-view form[action$="/staff/grant"] button`)))
	b.waitLoaded(t, "/accounts/staff?done=granted&role=moderator")
	b.waitText(t, "#staff-view [role=status]", "The moderator role is granted.")
	b.waitText(t, "#staff-view table", helper)
	if got := roles(); !slices.Equal(got, []privacy.Role{privacy.RoleModerator}) {
		t.Errorf("after the grant the member holds %v", got)
	}
	b.axe(t, "staff page, role granted")

	b.do(t, "revoke it", chromedp.Click(css(`#staff-view form[action$="/staff/revoke"]:has(input[value="`+helper+`"]) button`)))
	b.waitLoaded(t, "/accounts/staff?done=revoked&role=moderator")
	b.waitText(t, "#staff-view [role=status]", "The moderator role is revoked.")
	if table := b.text(t, "#staff-view table"); strings.Contains(table, helper) {
		t.Errorf("the revoked member is still listed: %q", table)
	}
	if got := roles(); len(got) != 0 {
		t.Errorf("after the revoke the member holds %v", got)
	}
	b.axe(t, "staff page, role revoked")
	b.check(t)
}
