package smtp

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM signs every message (RFC 6376) for Domain with the key published at
// Selector._domainkey.Domain.
type DKIM struct {
	Domain   string
	Selector string
	Key      crypto.Signer // *rsa.PrivateKey (at least 1024 bits) or ed25519.PrivateKey
}

// SignedHeaders are the header fields every signature covers. RFC 8058 section 4
// requires List-Unsubscribe and List-Unsubscribe-Post among them.
var SignedHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To",
	"List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type"}

// headerKeys names each signed field twice: a verifier takes instances from the
// bottom up, and the second, absent instance signs as empty, so a field added on
// top by anyone on the way (a second From, a List-Unsubscribe-Post on mail that had
// none) breaks the signature (RFC 6376 section 8.15).
var headerKeys = append(slices.Clone(SignedHeaders), SignedHeaders...)

// LoadDKIMKey reads a PEM private key from path: PKCS #1 or PKCS #8 RSA (at least
// 1024 bits, RFC 8301) or PKCS #8 Ed25519 (RFC 8463). Its errors name the file and
// what is wrong with it, never the key.
func LoadDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	k, err := ParseDKIMKey(data)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	return k, nil
}

// ParseDKIMKey reads a PEM private key as LoadDKIMKey does.
func ParseDKIMKey(data []byte) (crypto.Signer, error) {
	const want = "want a PEM RSA (PKCS #1 or #8) or Ed25519 (PKCS #8) private key, e.g. from `openssl genpkey -algorithm ed25519`"
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block; " + want)
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q; %s", block.Type, want)
	}
	if err != nil {
		return nil, fmt.Errorf("%s does not parse; %s", block.Type, want)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("RSA key of %d bits: RFC 8301 needs at least 1024 (2048 advised)", k.N.BitLen())
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("%T key; %s", key, want)
}

func (d *DKIM) check() error {
	if d.Domain == "" || d.Selector == "" || d.Key == nil {
		return errors.New("smtp: DKIM needs a domain, a selector and a key")
	}
	_, err := dkim.NewSigner(d.options())
	return err
}

func (d *DKIM) options() *dkim.SignOptions {
	return &dkim.SignOptions{Domain: d.Domain, Selector: d.Selector, Signer: d.Key, Hash: crypto.SHA256,
		// Relaxed survives the rewrapping and whitespace changes of relays on the way.
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: headerKeys}
}

// sign returns raw with a DKIM-Signature field in front.
func (d *DKIM) sign(raw []byte) ([]byte, error) {
	s, err := dkim.NewSigner(d.options())
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(raw); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	sig := s.Signature()
	b.Grow(len(sig) + len(raw))
	b.WriteString(sig)
	b.Write(raw)
	return b.Bytes(), nil
}
