package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// floodFileLimit is the open-file limit of the site under flood; the flood holds
// more connections than that.
const floodFileLimit = 200

// TestConnectionFlood: a site whose process may open floodFileLimit files, flooded
// with more idle connections than that (some silent, some after one request),
// still answers a real request within 5 s, with no flag set, and never runs out of
// file descriptors. Uncapped, it accepts until accept4 fails with "too many open
// files", and the real request waits in the backlog until idle connections time
// out.
func TestConnectionFlood(t *testing.T) {
	if os.Getenv("CONSENTKIT_FLOOD_SITE") == "1" {
		floodSite(t)
		return
	}
	if testing.Short() {
		t.Skip("starts a site process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestConnectionFlood$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONSENTKIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CONSENTKIT_FLOOD_SITE=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = cmd.Stderr
	require.NoError(t, cmd.Start())
	var out syncBuffer
	urls, exited := make(chan string, 1), make(chan struct{})
	stop := func() { // the site's output is all that is wanted from it
		cmd.Process.Kill()
		<-exited
		cmd.Wait()
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			stop()
		}
		if t.Failed() {
			t.Logf("site output:\n%s", &out)
		}
	})
	go func() {
		defer close(exited)
		urlRE := regexp.MustCompile(`open (http://[^ ]+/)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			out.Write([]byte(sc.Text() + "\n"))
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	var base string
	select {
	case base = <-urls:
	case <-time.After(60 * time.Second):
		t.Fatal("the site did not start")
	}
	holdConns(t, base, floodFileLimit/4, floodFileLimit*5/4)
	requestWithin(t, base, 5*time.Second)
	stop()
	require.NotContains(t, out.String(), "too many open files",
		"the site ran out of file descriptors: the database and the mail relay would have too")
}

// floodSite is the site process of TestConnectionFlood: it serves for at most a
// minute with floodFileLimit open files.
func floodSite(t *testing.T) {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	lim.Cur = floodFileLimit
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, run(ctx, []string{"-quiet", "-addr", "127.0.0.1:0", "serve"}, os.Stderr, os.Stderr))
}
