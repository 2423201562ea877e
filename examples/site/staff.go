package main

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// The staff pages are the capabilities' own server-rendered pages, each at its own
// URL. A browser cannot send the bearer token kept in the tab with a navigation, so
// a navigation to a staff URL (no Authorization header) is answered with the shell:
// the layout and the staff navigation, and no data. The site's script then fetches
// the same URL with the token and fragmentHeader, and the layout answers with the
// page's body only (its title in titleHeader), which the script puts in the shell.
const (
	fragmentHeader = "X-Consentkit-Fragment"
	titleHeader    = "X-Consentkit-Title"
)

// staffSection is one entry of the staff navigation, shown by the script only to a
// member holding one of Roles (admin holds them all).
type staffSection struct {
	Title, Path string
	Roles       []privacy.Role
}

var staffSections = []staffSection{
	{"Contact inbox", "/contact/requests", []privacy.Role{privacy.RoleSupport}},
	{"Moderation", "/comments/moderate", []privacy.Role{privacy.RoleModerator}},
	{"Campaigns", "/newsletter/staff/campaigns", []privacy.Role{privacy.RoleEditor}},
	{"Usage", "/stats/", []privacy.Role{privacy.RoleAdmin}},
	{"Data requests", "/privacy/staff/requests", []privacy.Role{privacy.RoleSupport}},
	{"Disclosures", "/privacy/staff/disclosures", []privacy.Role{privacy.RoleAdmin}},
	{"Consents", "/privacy/staff/consents", []privacy.Role{privacy.RoleAdmin}},
	{"Access log", "/privacy/staff/access", []privacy.Role{privacy.RoleAdmin}},
	{"Staff", "/accounts/staff", []privacy.Role{privacy.RoleAdmin}},
}

// RolesAttr is the section's roles as the script reads them.
func (s staffSection) RolesAttr() string {
	out := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		out[i] = string(r)
	}
	return strings.Join(out, " ")
}

// staffPrefixes are the URLs that show staff data: every section's, and what its
// pages link to below it.
var staffPrefixes = []string{"/staff", "/contact/requests", "/comments/moderate", "/newsletter/staff/",
	"/stats/", "/privacy/staff/", "/accounts/staff"}

func isStaffPath(p string) bool {
	for _, pre := range staffPrefixes {
		if p == pre || strings.HasPrefix(p, pre) && (strings.HasSuffix(pre, "/") || p[len(pre)] == '/') {
			return true
		}
	}
	return false
}

// staffShell answers a navigation to a staff URL with the shell. Every answer to a
// signed-in request, and the shell itself, is kept out of every cache, the
// back-forward cache included: after signing out, Back must show nothing private.
func (s *Site) staffShell(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signedIn := r.Header.Get("Authorization") != ""
		if signedIn || isStaffPath(r.URL.Path) || r.URL.Path == "/member" {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Add("Vary", "Authorization")
		}
		if !signedIn && (r.Method == http.MethodGet || r.Method == http.MethodHead) && isStaffPath(r.URL.Path) && !web.WantsJSON(r) {
			s.page(w, r, http.StatusOK, "Staff area", "staff.html", staffSections)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddr puts the client's address in RemoteAddr when the connection comes
// from a trusted proxy (-trusted-proxy), so that every per-client limit counts the
// visitor and not the proxy. The client is the right-most address of
// X-Forwarded-For that is not itself a trusted proxy: the ones left of it are
// whatever the client chose to send.
func (s *Site) clientAddr(next http.Handler) http.Handler {
	if len(s.cfg.TrustedProxies) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := forwardedClient(r, s.cfg.TrustedProxies); ok {
			r = r.WithContext(r.Context())
			r.RemoteAddr = net.JoinHostPort(a.String(), "0")
		}
		next.ServeHTTP(w, r)
	})
}

func forwardedClient(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer := web.ClientAddr(r, "")
	if !trustedAddr(peer, trusted) {
		return netip.Addr{}, false
	}
	hops := r.Header.Values("X-Forwarded-For")
	var client netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				// A hop that is not an address: what is left of it cannot be trusted.
				return client, client.IsValid()
			}
			client = a.Unmap()
			if !trustedAddr(client, trusted) {
				return client, true
			}
		}
	}
	return client, client.IsValid()
}

func trustedAddr(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseProxies reads -trusted-proxy: addresses or CIDR prefixes, comma-separated.
func parseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
