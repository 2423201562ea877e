package accounts_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentkit/consentkit/accounts"
	"github.com/consentkit/consentkit/privacy"
)

// Known answers computed outside Go (Python hashlib) for the password "hunter2":
// they pin each legacy form to what old sites actually stored.
var legacyVectors = []struct {
	name                 string
	scheme, hash, salt   string
	wantStoredHashPrefix string
}{
	{"sha1(password)", accounts.SchemeSHA1, "f3bbbd66a63d4bf1747940578ec3d0103530e21d", "", "$sha1$"},
	{"sha1(password) upper-case hex", accounts.SchemeSHA1, "F3BBBD66A63D4BF1747940578EC3D0103530E21D", "", "$sha1$"},
	{"sha1(salt+password)", accounts.SchemeSHA1SaltPassword, "da07373149d0d28a3960ec7f79d1233976d61643", "NaCl", "$sha1-salt-password$"},
	{"sha1(password+salt)", accounts.SchemeSHA1PasswordSalt, "03a08420a8ca52a5c16f81530d34b444a9a95091", "NaCl", "$sha1-password-salt$"},
	{"LDAP {SHA}", accounts.SchemeLDAP, "{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=", "", "{SHA}"},
	{"LDAP {SSHA}", accounts.SchemeLDAP, "{SSHA}PhzCfLBfDElHCK+w0Dx/W98KAIehssPU", "", "{SSHA}"},
}

func TestLegacyVectors(t *testing.T) {
	for _, v := range legacyVectors {
		t.Run(v.name, func(t *testing.T) {
			stored, err := accounts.StoredLegacyHash(v.scheme, v.hash, v.salt)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(stored, v.wantStoredHashPrefix), "stored=%q", stored)
			ph, err := accounts.ParsePasswordHash(stored)
			require.NoError(t, err)
			assert.True(t, ph.Matches("hunter2"))
			assert.False(t, ph.Matches("hunter3"))
			assert.False(t, ph.Matches(""))
			assert.Equal(t, stored, ph.String(), "round trip")
		})
	}
}

// The argon2id answers of the reference implementation (as in x/crypto's tests):
// password "password", salt "somesalt".
func TestArgon2idKnownAnswers(t *testing.T) {
	for _, v := range []struct {
		m, t uint32
		p    uint8
		key  string
	}{
		{64, 1, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
		{256, 3, 2, "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b"},
	} {
		key, _ := hex.DecodeString(v.key)
		ph := accounts.PasswordHash{Scheme: accounts.SchemeArgon2id, Params: accounts.Argon2Params{Memory: v.m, Time: v.t, Threads: v.p, SaltLen: 8, KeyLen: uint32(len(key))},
			Salt: []byte("somesalt"), Key: key}
		assert.True(t, ph.Matches("password"), "m=%d t=%d p=%d", v.m, v.t, v.p)
		assert.True(t, ph.Matches("password"), "again, on a reused block buffer")
		assert.False(t, ph.Matches("Password"))
		back, err := accounts.ParsePasswordHash(ph.String())
		require.NoError(t, err)
		assert.Equal(t, ph, back)
	}
}

func TestParsePasswordHashInvalid(t *testing.T) {
	for _, tc := range []struct{ name, hash string }{
		{"Empty", ""},
		{"Plain", "hunter2"},
		{"UnknownScheme", "$md5$abc"},
		{"ShortSHA1", "$sha1$abcd"},
		{"NonHexSHA1", "$sha1$zzbbbd66a63d4bf1747940578ec3d0103530e21d"},
		{"SaltedWithoutSalt", "$sha1-salt-password$da07373149d0d28a3960ec7f79d1233976d61643"},
		{"BadSSHA", "{SSHA}!!!"},
		{"SSHAWithoutSalt", "{SSHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0="},
		{"Argon2iNotId", "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$abcdefghijklmnopqrstuv"},
		{"Argon2Version", "$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4RpvhvbnCi7"},
		{"Argon2HugeMemory", "$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4RpvhvbnCi7"},
		{"Argon2HugeTime", "$argon2id$v=19$m=64,t=1000,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4RpvhvbnCi7"},
		{"Argon2ZeroLanes", "$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4RpvhvbnCi7"},
		{"Argon2ParamOrder", "$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4RpvhvbnCi7"},
		{"Argon2ShortKey", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrR"},
		{"Argon2PaddedBase64", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$ZVrRXqxlLcWfcXCnMyv0m4RpvhvbnCi7"},
		{"TooLong", "$sha1$" + strings.Repeat("a", 600)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := accounts.ParsePasswordHash(tc.hash)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, "hash", privacy.FieldOf(err))
		})
	}
}

func TestStoredLegacyHashInvalid(t *testing.T) {
	for _, tc := range []struct{ name, scheme, hash, salt, field string }{
		{"UnknownScheme", "md5", "5f4dcc3b5aa765d61d8327deb882cf99", "", "scheme"},
		{"SaltMissing", accounts.SchemeSHA1SaltPassword, "da07373149d0d28a3960ec7f79d1233976d61643", "", "salt"},
		{"SaltTooLong", accounts.SchemeSHA1PasswordSalt, "da07373149d0d28a3960ec7f79d1233976d61643", strings.Repeat("s", 65), "salt"},
		{"LDAPWithoutPrefix", accounts.SchemeLDAP, "87u9ZqY9S/F0eUBXjsPQEDUw4h0=", "", "hash"},
		{"BadHex", accounts.SchemeSHA1, "not-hex", "", "hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := accounts.StoredLegacyHash(tc.scheme, tc.hash, tc.salt)
			require.ErrorIs(t, err, privacy.ErrInvalid)
			assert.Equal(t, tc.field, privacy.FieldOf(err))
		})
	}
}
