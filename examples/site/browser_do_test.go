package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/chromedp"
)

// TestBrowserDoLeavesPageLoaded: a node found after do survives the page's
// DOMContentLoaded, which Chromium's DOM domain answers by forgetting every node
// it named. The page followed by a link is parsed at once, but its module script
// arrives a second later, so its DOMContentLoaded comes after the field is visible.
func TestBrowserDoLeavesPageLoaded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			fmt.Fprint(w, `<!doctype html><title>a</title><a id=go href="/b">b</a>`)
		case "/b":
			fmt.Fprint(w, `<!doctype html><title>b</title><input id=f aria-label=f><script type=module src="/slow.js"></script>`)
		case "/slow.js":
			time.Sleep(time.Second)
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `document.body.dataset.ran = "yes";`)
		}
	}))
	defer srv.Close()
	b := newBrowser(t)
	b.do(t, "follow the link", chromedp.Navigate(srv.URL+"/"), chromedp.Click(chromedp.CSS(`#go`)), chromedp.WaitVisible(chromedp.CSS(`#f`)))
	nodes, err := chromedp.Run(b.ctx, chromedp.Nodes(chromedp.CSS(`#f`)))
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "the script ran", chromedp.Poll[chromedp.Void](`document.body.dataset.ran === "yes" && document.readyState === "complete"`))
	if _, err := chromedp.Call(b.ctx, dom.Focus, dom.FocusParams{NodeID: nodes[0].NodeID}); err != nil {
		t.Fatalf("the field found after do is gone once the page's script ran: %v", err)
	}
}
