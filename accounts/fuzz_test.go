package accounts_test

import (
	"bytes"
	"encoding/binary"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	_ "golang.org/x/image/webp"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
	"github.com/consentkit/consentkit/privacy/web"
)

func FuzzParsePasswordHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4RpvhvbnCi7")
	f.Add("$sha1$f3bbbd66a63d4bf1747940578ec3d0103530e21d")
	f.Add("$sha1-salt-password$TmFDbA$da07373149d0d28a3960ec7f79d1233976d61643")
	f.Add("{SSHA}PhzCfLBfDElHCK+w0Dx/W98KAIehssPU")
	f.Add("$2y$04$0123456789./abcdefghiebAvpRP8aICRd6D12THHNHh58yhdGvPW")
	f.Add("$H$9bbSalt/.eFeUDWuVu18hC99iA0Rt.0")
	f.Add("pbkdf2_sha256$1000$seasalt$aZOLUDnbVq4qfmIhIFCkAqvDNHspRzj9l43SgVe7GOM=")
	f.Fuzz(func(t *testing.T, s string) {
		ph, err := accounts.ParsePasswordHash(s)
		if err != nil {
			if privacy.FieldOf(err) != "hash" {
				t.Fatalf("error %v does not name the field hash", err)
			}
			return
		}
		again, err := accounts.ParsePasswordHash(ph.String())
		if err != nil {
			t.Fatalf("String()=%q does not parse: %v", ph.String(), err)
		}
		if again.String() != ph.String() {
			t.Fatalf("round trip: %q != %q", again.String(), ph.String())
		}
		// Matches must not panic; big costs are skipped to keep fuzzing fast.
		cheap := map[string]bool{
			accounts.SchemeArgon2id:     ph.Params.Memory <= 1024 && ph.Params.Time <= 2,
			accounts.SchemeBcrypt:       ph.Cost <= 5,
			accounts.SchemePHPass:       ph.Cost <= 10,
			accounts.SchemePBKDF2SHA256: ph.Cost <= 2000,
		}
		if ok, listed := cheap[ph.Scheme]; ok || !listed {
			ph.Matches("hunter2")
		}
	})
}

func FuzzStoredLegacyHash(f *testing.F) {
	for _, v := range legacyVectors {
		f.Add(v.scheme, v.hash, v.salt)
	}
	f.Fuzz(func(t *testing.T, scheme, hash, salt string) {
		stored, err := accounts.StoredLegacyHash(scheme, hash, salt)
		if err != nil {
			if !strings.Contains("scheme hash salt", privacy.FieldOf(err)) || privacy.FieldOf(err) == "" {
				t.Fatalf("error %v names no input field", err)
			}
			return
		}
		if _, err := accounts.ParsePasswordHash(stored); err != nil {
			t.Fatalf("stored %q does not parse: %v", stored, err)
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ann@example.org", " Ann@EXAMPLE.org ", "a@b", "\"quoted\"@example.org", "ann@exämple.org", "Ann <ann@example.org>", "a@b.c\r\nBcc: x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := privacy.NormalizeEmail(s)
		if err != nil {
			if privacy.FieldOf(err) != "email" {
				t.Fatalf("error %v does not name the field email", err)
			}
			return
		}
		if !utf8.ValidString(got) || len(got) > privacy.MaxEmailLen {
			t.Fatalf("%q: invalid result %q", s, got)
		}
		for _, r := range got {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				t.Fatalf("%q: result %q holds a space or control character", s, got)
			}
		}
		at := strings.LastIndexByte(got, '@')
		if at <= 0 || strings.ToLower(got[at+1:]) != got[at+1:] {
			t.Fatalf("%q: domain of %q not case-folded", s, got)
		}
		again, err := privacy.NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}

func FuzzRegistrationForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "email=ann%40example.org&password=correct+horse&birth_date=1990-01-01&newsletter=on")
	f.Add("application/json", `{"email":"ann@example.org","password":"correct horse","birth_date":"1990-01-01","promotions":true}`)
	f.Add("application/x-www-form-urlencoded", "email=a&email=b")
	f.Add("application/json", `{"display_name":"\u0000","consent_code":7}`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest("POST", "/register", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		v, err := web.Decode(r, 0)
		if err != nil {
			return // the kernel's decoder has its own fuzz target
		}
		in, err := accounts.ParseRegistration(v)
		if err != nil {
			if privacy.FieldOf(err) == "" {
				t.Fatalf("parse error %v names no field", err)
			}
			return
		}
		for _, s := range []string{in.Email, in.Password, in.DisplayName, in.BirthDate, in.ConsentCode} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") {
				t.Fatalf("accepted unsafe text %q", s)
			}
		}
		if utf8.RuneCountInString(in.Password) > accounts.MaxPasswordLen || utf8.RuneCountInString(in.DisplayName) > accounts.MaxDisplayNameLen {
			t.Fatalf("accepted an over-long field")
		}
	})
}

func FuzzReadLegacyCSV(f *testing.F) {
	f.Add("email,scheme,hash,salt\na@example.org,sha1,f3bbbd66a63d4bf1747940578ec3d0103530e21d,\n")
	f.Add("email,scheme,hash,salt,display_name\n\"b@example.org\",ldap,{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=,,\"Bob, Jr.\"\n")
	f.Add("\ufeffEMAIL,Scheme,HASH,salt\n")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := accounts.ReadLegacyCSV(strings.NewReader(s))
		if err != nil {
			if privacy.FieldOf(err) == "" {
				t.Fatalf("error %v names no column or line", err)
			}
			return
		}
		if len(got) > strings.Count(s, "\n")+strings.Count(s, "\r")+1 {
			t.Fatalf("%d rows from %d lines", len(got), strings.Count(s, "\n"))
		}
	})
}

func FuzzStripWebP(f *testing.F) {
	f.Add(webpWithEXIF())
	f.Add(tinyWebP)
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := accounts.StripWebP(b)
		if err != nil {
			return
		}
		again, err := accounts.StripWebP(out)
		if err != nil {
			t.Fatalf("stripped output is not a valid container: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("stripping is not idempotent")
		}
		if len(out) < 12 || int(uint32(out[4])|uint32(out[5])<<8|uint32(out[6])<<16|uint32(out[7])<<24) != len(out)-8 {
			t.Fatalf("RIFF size does not match")
		}
		for p := 12; p+8 <= len(out); {
			id := string(out[p : p+4])
			if id == "EXIF" || id == "XMP " {
				t.Fatalf("%s chunk kept", id)
			}
			if id == "VP8X" && out[p+8]&0x0C != 0 {
				t.Fatalf("metadata flags kept")
			}
			n := int(uint32(out[p+4]) | uint32(out[p+5])<<8 | uint32(out[p+6])<<16 | uint32(out[p+7])<<24)
			p += 8 + n + n%2
		}
	})
}

func FuzzGIFFrames(f *testing.F) {
	f.Add(gifWithComment(&testing.T{}, 2))
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, area, err := accounts.GIFFrames(b)
		if err == nil && (n < 0 || area < 0 || area > int64(n)*65535*65535) {
			t.Fatalf("frames=%d area=%d", n, area)
		}
	})
}

func FuzzCleanPhoto(f *testing.F) {
	f.Add(webpWithEXIF())
	f.Add(gifWithComment(&testing.T{}, 2))
	f.Add(pngWithMetadata(&testing.T{}))
	f.Add(jpegWithEXIF(&testing.T{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxPixels = 1 << 16 // keeps each run's decoding small
		ct, out, err := accounts.CleanPhoto(b, maxPixels)
		if err != nil {
			if privacy.FieldOf(err) != "file" {
				t.Fatalf("error %v does not name the field file", err)
			}
			return
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("cleaned %s does not decode: %v", ct, err)
		}
		if "image/"+format != ct || int64(cfg.Width)*int64(cfg.Height) > maxPixels {
			t.Fatalf("cleaned %s is %s %dx%d", ct, format, cfg.Width, cfg.Height)
		}
	})
}

func FuzzJPEGOrientation(f *testing.F) {
	jpg := encodeJPEG(&testing.T{}, upright(8, 4))
	f.Add(withSegment(jpg, exifOrientation(binary.LittleEndian, 6)))
	f.Add(withSegment(jpg, exifOrientation(binary.BigEndian, 3)))
	f.Add(jpegWithEXIF(&testing.T{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		o := accounts.JPEGOrientation(b)
		if o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		want := image.Pt(3, 2)
		if o >= 5 {
			want = image.Pt(2, 3)
		}
		if got := accounts.Orient(image.NewGray(image.Rect(0, 0, 3, 2)), o).Bounds().Size(); got != want {
			t.Fatalf("orientation %d gave %v, want %v", o, got, want)
		}
	})
}
