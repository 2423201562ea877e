package accounts

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

// LegacyAccount is an account exported from an older site whose passwords were
// stored with sha1, bcrypt, phpass or PBKDF2 (P12).
type LegacyAccount struct {
	Email string
	// Scheme is one of SchemeSHA1 (Hash is hex sha1(password)),
	// SchemeSHA1SaltPassword (hex sha1(salt+password)), SchemeSHA1PasswordSalt (hex
	// sha1(password+salt)), SchemeLDAP (Hash is "{SHA}..." or "{SSHA}..."),
	// SchemeBcrypt ("$2a$...", "$2b$..." or "$2y$..."), SchemePHPass ("$P$..." from
	// WordPress or "$H$..." from phpBB), SchemePBKDF2SHA256 (Django's
	// "pbkdf2_sha256$iterations$salt$digest") or SchemeArgon2id (Hash is a PHC
	// string). Only the salted sha1 schemes read Salt; the others carry their own.
	Scheme      string
	Hash        string
	Salt        string // raw salt text, for the salted sha1 schemes
	DisplayName string
}

// ImportError says why one legacy account was not imported. It names the row, not
// the address.
type ImportError struct {
	Index int    `json:"index"` // 0-based position in the input
	Field string `json:"field"`
	Msg   string `json:"message"`
}

// ImportReport counts what ImportLegacy did.
type ImportReport struct {
	Imported int           `json:"imported"`
	Existing int           `json:"existing"` // skipped: the address already has an account
	Invalid  []ImportError `json:"invalid,omitempty"`
}

// ImportProgress is called after each account with how many are done of total.
type ImportProgress func(done, total int)

// StoredLegacyHash converts a legacy account's scheme, hash and salt to the stored
// form ParsePasswordHash reads. Returns ErrInvalid naming "scheme", "hash" or "salt",
// the hash's message saying what is malformed; an {SSHA} hash whose salt is shorter
// than 4 bytes is refused, as passlib refuses it.
func StoredLegacyHash(scheme, hash, salt string) (string, error) {
	hash = strings.TrimSpace(hash)
	var stored string
	switch scheme {
	case SchemeSHA1:
		stored = "$sha1$" + strings.ToLower(hash)
	case SchemeSHA1SaltPassword, SchemeSHA1PasswordSalt:
		if salt == "" {
			return "", privacy.Invalid("salt", "the %s scheme needs a salt", scheme)
		}
		if len(salt) > maxSaltLen {
			return "", privacy.Invalid("salt", "the salt is longer than %d bytes", maxSaltLen)
		}
		stored = "$" + scheme + "$" + base64.RawStdEncoding.EncodeToString([]byte(salt)) + "$" + strings.ToLower(hash)
	case SchemeLDAP:
		if !strings.HasPrefix(strings.ToUpper(hash), "{SHA}") && !strings.HasPrefix(strings.ToUpper(hash), "{SSHA}") {
			return "", privacy.Invalid("hash", "an ldap hash starts with {SHA} or {SSHA}")
		}
		stored = hash
	case SchemeBcrypt:
		if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
			return "", privacy.Invalid("hash", "a bcrypt hash starts with $2a$, $2b$ or $2y$")
		}
		stored = hash
	case SchemePHPass:
		if !strings.HasPrefix(hash, "$P$") && !strings.HasPrefix(hash, "$H$") {
			return "", privacy.Invalid("hash", "a phpass hash starts with $P$ or $H$")
		}
		stored = hash
	case SchemePBKDF2SHA256:
		if !strings.HasPrefix(hash, "pbkdf2_sha256$") {
			return "", privacy.Invalid("hash", "a Django PBKDF2 hash starts with pbkdf2_sha256$")
		}
		stored = hash
	case SchemeArgon2id:
		stored = hash
	default:
		return "", privacy.Invalid("scheme", "unknown scheme %q", scheme)
	}
	ph, err := ParsePasswordHash(stored)
	if err != nil {
		return "", err
	}
	if ph.Scheme != scheme {
		return "", privacy.Invalid("hash", "the hash is in the %s scheme, not %s", ph.Scheme, scheme)
	}
	// Checked here rather than in ParsePasswordHash so that accounts imported
	// before this rule can still sign in, and so be upgraded.
	if ph.Scheme == SchemeLDAP && len(ph.Salt) > 0 && len(ph.Salt) < minSSHASaltLen {
		return "", privacy.Invalid("hash", "the {SSHA} salt is %d bytes; at least %d are needed", len(ph.Salt), minSSHASaltLen)
	}
	return ph.String(), nil
}

// ImportLegacy creates verified accounts from a legacy site's accounts, keeping
// each password hash in its scheme until the member's first successful sign-in
// replaces it with argon2id. An address that already has an account is skipped, an
// invalid row is reported by index, and the import goes on. progress, when not nil,
// is called after each account. It stops with ctx's error when ctx is done, having
// imported what it reports.
func (s *Service) ImportLegacy(ctx context.Context, accts []LegacyAccount, progress ImportProgress) (ImportReport, error) {
	var rep ImportReport
	for i, la := range accts {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		err := s.importOne(ctx, la)
		switch {
		case err == nil:
			rep.Imported++
		case errors.Is(err, privacy.ErrConflict):
			rep.Existing++
		case errors.Is(err, privacy.ErrInvalid):
			d := web.Describe(err)
			rep.Invalid = append(rep.Invalid, ImportError{Index: i, Field: d.Error.Field, Msg: d.Error.Message})
		default:
			return rep, fmt.Errorf("import row %d: %w", i, err)
		}
		if progress != nil {
			progress(i+1, len(accts))
		}
	}
	return rep, nil
}

func (s *Service) importOne(ctx context.Context, la LegacyAccount) error {
	email, err := privacy.NormalizeEmail(la.Email)
	if err != nil {
		return err
	}
	if err := privacy.CheckText("display_name", la.DisplayName, MaxDisplayNameLen, false); err != nil {
		return err
	}
	stored, err := StoredLegacyHash(la.Scheme, la.Hash, la.Salt)
	if err != nil {
		return err
	}
	id, err := s.newID()
	if err != nil {
		return err
	}
	now := s.now()
	a := Account{ID: id, Email: email, DisplayName: la.DisplayName, PasswordHash: stored, Verified: true, AgeScreen: AgeUnknown, Created: now}
	return s.store.CreateAccount(ctx, &a, nil)
}

// ReadLegacyCSV reads legacy accounts from CSV with a header row naming the
// columns email, scheme, hash, salt and, optionally, display_name, in any order.
// Returns ErrInvalid naming the column or the line for a malformed file; rows are
// not validated here (ImportLegacy reports bad rows).
func ReadLegacyCSV(r io.Reader) ([]LegacyAccount, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, privacy.Invalid("header", "the file has no header row")
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if h == "" {
			return nil, privacy.Invalid("header", "column %d has no name", i+1)
		}
		if _, dup := col[h]; dup {
			return nil, privacy.Invalid(h, "the column appears twice")
		}
		col[h] = i
	}
	for _, need := range []string{"email", "scheme", "hash", "salt"} {
		if _, ok := col[need]; !ok {
			return nil, privacy.Invalid(need, "the header has no %q column", need)
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	var out []LegacyAccount
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			line := 0
			if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, privacy.Invalid(fmt.Sprintf("line %d", line), "the CSV cannot be read")
		}
		out = append(out, LegacyAccount{Email: get(rec, "email"), Scheme: strings.TrimSpace(get(rec, "scheme")),
			Hash: get(rec, "hash"), Salt: get(rec, "salt"), DisplayName: get(rec, "display_name")})
	}
}
