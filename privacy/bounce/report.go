package bounce

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
)

// Kind is what a report says about the message it is about.
type Kind int

// Kinds of report, from least to most severe.
const (
	Ignored   Kind = iota // delivered, relayed or expanded; or a not-spam or authentication report
	Temporary             // delayed, or failed with a 4.x.x status: the relay keeps trying, or gave up on a transient cause
	Blocked               // failed with 5.7.x: the relay refused the message or the sender for policy, which says nothing of the address
	Permanent             // failed with any other 5.x.x status: the address does not take mail
	Complaint             // the recipient reported the message as abuse (RFC 5965 Feedback-Type abuse, fraud, virus or other)
)

var kindNames = [...]string{"ignored", "temporary", "blocked", "permanent", "complaint"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Report is what Parse found.
type Report struct {
	Kind     Kind
	Status   string // the RFC 3463 status of the most severe recipient, e.g. "5.1.1"; "" for a feedback report
	Feedback string // the RFC 5965 Feedback-Type, lower case; "" for a DSN
}

// ErrMalformed is matched (errors.Is) by every error of Parse.
var ErrMalformed = errors.New("malformed report")

type malformed string

func (e malformed) Error() string        { return string(e) }
func (e malformed) Is(target error) bool { return target == ErrMalformed }

// Limits on what Parse reads of a report.
const (
	maxParts       = 16
	maxStatusBytes = 64 << 10
	maxGroups      = 100
)

var statusRE = regexp.MustCompile(`^([245])\.([0-9]{1,3})\.([0-9]{1,3})$`)

// Parse reads a delivery status notification (RFC 3464: multipart/report;
// report-type=delivery-status, with a message/delivery-status or, RFC 6533,
// message/global-delivery-status part) or a feedback report (RFC 5965:
// report-type=feedback-report, with a message/feedback-report part). A DSN's kind
// is that of its most severe recipient. Returns an error matching ErrMalformed,
// whose text says what was wrong and quotes nothing of the input, for anything else.
func Parse(r io.Reader) (*Report, error) {
	m, err := mail.ReadMessage(bufio.NewReader(r))
	if err != nil {
		return nil, malformed("the header does not parse")
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" {
		return nil, malformed("not multipart/report")
	}
	if params["boundary"] == "" {
		return nil, malformed("multipart/report without a boundary")
	}
	var want string
	switch rt := strings.ToLower(params["report-type"]); rt {
	case "delivery-status":
		want = "delivery-status"
	case "feedback-report":
		want = "feedback-report"
	default:
		return nil, malformed("report-type is neither delivery-status nor feedback-report")
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for range maxParts {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, malformed("the MIME parts do not parse")
		}
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			continue
		}
		body, err := decode(p.Header.Get("Content-Transfer-Encoding"), io.LimitReader(p, maxStatusBytes))
		if err != nil {
			return nil, err
		}
		switch {
		case want == "delivery-status" && (pt == "message/delivery-status" || pt == "message/global-delivery-status"):
			return parseDeliveryStatus(body)
		case want == "feedback-report" && pt == "message/feedback-report":
			return parseFeedback(body)
		}
	}
	return nil, malformed("no message/" + want + " part")
}

func decode(cte string, r io.Reader) (*textproto.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	default:
		return nil, malformed("unknown Content-Transfer-Encoding on the report part")
	}
	return textproto.NewReader(bufio.NewReader(r)), nil
}

// groups reads the blank-line separated groups of header fields of a
// delivery-status or feedback-report body.
func groups(tr *textproto.Reader) ([]textproto.MIMEHeader, error) {
	var out []textproto.MIMEHeader
	for len(out) < maxGroups {
		// Some relays put blank lines between groups or at the end: skip them.
		for {
			b, err := tr.R.Peek(1)
			if err != nil || (b[0] != '\r' && b[0] != '\n') {
				break
			}
			tr.R.ReadByte()
		}
		h, err := tr.ReadMIMEHeader()
		if len(h) > 0 {
			out = append(out, h)
		}
		if err == io.EOF || (err == nil && len(h) == 0) {
			return out, nil
		}
		if err != nil {
			return nil, malformed("the report's fields do not parse")
		}
	}
	return out, nil
}

func parseDeliveryStatus(tr *textproto.Reader) (*Report, error) {
	gs, err := groups(tr)
	if err != nil {
		return nil, err
	}
	var rep *Report
	for _, g := range gs {
		action := strings.ToLower(strings.TrimSpace(g.Get("Action")))
		if action == "" {
			continue // the per-message group, or an extension group
		}
		status, _, _ := strings.Cut(strings.TrimSpace(g.Get("Status")), " ")
		sm := statusRE.FindStringSubmatch(status)
		if sm == nil {
			return nil, malformed("a recipient's Status is not an RFC 3463 code")
		}
		var k Kind
		switch action {
		case "delivered", "relayed", "expanded":
			k = Ignored
		case "delayed":
			k = Temporary
		case "failed":
			switch {
			case sm[1] != "5":
				k = Temporary
			case sm[2] == "7":
				k = Blocked
			default:
				k = Permanent
			}
		default:
			return nil, malformed("a recipient's Action is not failed, delayed, delivered, relayed or expanded")
		}
		if rep == nil || k > rep.Kind {
			rep = &Report{Kind: k, Status: status}
		}
	}
	if rep == nil {
		return nil, malformed("no recipient with an Action and a Status")
	}
	return rep, nil
}

func parseFeedback(tr *textproto.Reader) (*Report, error) {
	gs, err := groups(tr)
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, malformed("an empty feedback report")
	}
	ft := strings.ToLower(strings.TrimSpace(gs[0].Get("Feedback-Type")))
	switch ft {
	case "abuse", "fraud", "virus", "other":
		return &Report{Kind: Complaint, Feedback: ft}, nil
	case "not-spam", "auth-failure":
		return &Report{Kind: Ignored, Feedback: ft}, nil
	case "":
		return nil, malformed("a feedback report without Feedback-Type")
	}
	return nil, malformed("an unknown Feedback-Type")
}
