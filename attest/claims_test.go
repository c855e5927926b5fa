package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
)

func testClaims(p Platform) *Claims {
	c := &Claims{
		Platform:     p,
		ModuleDigest: sha256.Sum256([]byte("module")),
		ConfigDigest: sha256.Sum256([]byte("config")),
	}
	switch p {
	case PlatformNil:
		c.Insecure = true
	case PlatformSNP:
		c.TCB = []byte{3, 0, 0, 0, 0, 0, 8, 115}
		c.Measurement = bytes.Repeat([]byte{0xa5}, 48)
		c.PlatformID = bytes.Repeat([]byte{0x5a}, 64)
		c.Product = "Genoa"
	case PlatformTDX:
		c.Debug = true
		c.TCB = bytes.Repeat([]byte{2}, 16)
		c.Measurement = bytes.Repeat([]byte{0x77}, 48)
		c.PlatformID = []byte{0x00, 0x80, 0x6f, 0x05, 0x00, 0x00}
	}
	return c
}

func assertClaimsEqual(t *testing.T, got, want *Claims) {
	t.Helper()
	if got.Platform != want.Platform || got.Insecure != want.Insecure || got.Debug != want.Debug ||
		!bytes.Equal(got.TCB, want.TCB) || !bytes.Equal(got.Measurement, want.Measurement) ||
		!bytes.Equal(got.PlatformID, want.PlatformID) ||
		got.ModuleDigest != want.ModuleDigest || got.ConfigDigest != want.ConfigDigest ||
		got.Product != want.Product || got.Plaintext != want.Plaintext {
		t.Errorf("claims differ:\n got %+v\nwant %+v", got, want)
	}
}

func mustMarshal(t *testing.T, c *Claims) []byte {
	t.Helper()
	der, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestClaimsRoundTrip(t *testing.T) {
	for _, p := range []Platform{PlatformNil, PlatformSNP, PlatformTDX} {
		t.Run(p.String(), func(t *testing.T) {
			want := testClaims(p)
			der := mustMarshal(t, want)
			got, err := ParseClaimsExtension(der)
			if err != nil {
				t.Fatal(err)
			}
			assertClaimsEqual(t, got, want)
			// The result must not alias the input.
			for i := range der {
				der[i] ^= 0xff
			}
			assertClaimsEqual(t, got, want)
		})
	}
}

func TestClaimsPlaintext(t *testing.T) {
	c := testClaims(PlatformSNP)
	plain := mustMarshal(t, c)
	c.Plaintext = true
	der := mustMarshal(t, c)
	// The flag adds exactly [0] EXPLICIT BOOLEAN TRUE, after the product.
	if want := []byte{0xa0, 0x03, 0x01, 0x01, 0xff}; !bytes.HasSuffix(der, want) || len(der) != len(plain)+len(want) {
		t.Fatalf("plaintext claims encode as % x, want the plain encoding and % x", der, want)
	}
	got, err := ParseClaimsExtension(der)
	if err != nil || !got.Plaintext {
		t.Fatalf("ParseClaimsExtension: %+v, %v", got, err)
	}
	// FALSE written out is not DER (the default is left out).
	explicitFalse := append([]byte{0x30, 0x81, plain[2] + 5}, plain[3:]...)
	explicitFalse = append(explicitFalse, 0xa0, 0x03, 0x01, 0x01, 0x00)
	if _, err := ParseClaimsExtension(explicitFalse); !errors.Is(err, ErrClaims) {
		t.Errorf("plaintext FALSE written out: %v, want ErrClaims", err)
	}
}

func TestClaimsEveryTruncation(t *testing.T) {
	for _, p := range []Platform{PlatformNil, PlatformSNP, PlatformTDX} {
		der := mustMarshal(t, testClaims(p))
		for n := 0; n < len(der); n++ {
			if _, err := ParseClaimsExtension(der[:n]); !errors.Is(err, ErrClaims) {
				t.Errorf("%s truncated to %d of %d bytes: err = %v, want ErrClaims", p, n, len(der), err)
			}
		}
	}
}

func TestClaimsRejects(t *testing.T) {
	good := mustMarshal(t, testClaims(PlatformSNP))
	raw := func(mod func(*claimsASN1)) []byte {
		c := testClaims(PlatformSNP)
		r := claimsASN1{ClaimsVersion, asn1.Enumerated(c.Platform), c.Insecure, c.Debug,
			c.TCB, c.Measurement, c.PlatformID, c.ModuleDigest[:], c.ConfigDigest[:], c.Product, c.Plaintext}
		mod(&r)
		der, err := asn1.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	// Sanity: raw with no change is exactly what Marshal writes.
	if !bytes.Equal(raw(func(*claimsASN1) {}), good) {
		t.Fatal("test encoder disagrees with Marshal")
	}
	// The SNP claims take 128..255 bytes: length 0x81 nn. Re-encode that
	// length with a superfluous leading zero octet.
	if good[1] != 0x81 {
		t.Fatalf("test assumes a one-octet long-form length, got %#x", good[1])
	}
	longForm := append([]byte{0x30, 0x82, 0x00, good[2]}, good[3:]...)
	// encoding/asn1 ignores extra elements at the end of a SEQUENCE; the
	// canonical re-encoding check must not.
	extraElement := append(append([]byte{0x30, 0x81, good[2] + 2}, good[3:]...), 0x05, 0x00)
	cases := map[string]struct {
		der  []byte
		want string
	}{
		"trailing byte":      {append(append([]byte{}, good...), 0), "trailing"},
		"trailing element":   {append(append([]byte{}, good...), 0x05, 0x00), "trailing"},
		"version 2":          {raw(func(r *claimsASN1) { r.Version = 2 }), "version 2"},
		"version 0":          {raw(func(r *claimsASN1) { r.Version = 0 }), "version 0"},
		"platform 0":         {raw(func(r *claimsASN1) { r.Platform = 0 }), "unknown platform"},
		"platform 5":         {raw(func(r *claimsASN1) { r.Platform = 5 }), "unknown platform"},
		"snp insecure":       {raw(func(r *claimsASN1) { r.Insecure = true }), "insecure"},
		"nil not insecure":   {raw(func(r *claimsASN1) { r.Platform = asn1.Enumerated(PlatformNil) }), "insecure"},
		"short module":       {raw(func(r *claimsASN1) { r.ModuleDigest = r.ModuleDigest[:31] }), "32 bytes"},
		"long config":        {raw(func(r *claimsASN1) { r.ConfigDigest = append(r.ConfigDigest, 0) }), "32 bytes"},
		"huge measurement":   {raw(func(r *claimsASN1) { r.Measurement = make([]byte, 65) }), "measurement"},
		"huge tcb":           {raw(func(r *claimsASN1) { r.TCB = make([]byte, 65) }), "tcb"},
		"huge platform id":   {raw(func(r *claimsASN1) { r.PlatformID = make([]byte, 65) }), "platform id"},
		"unknown product":    {raw(func(r *claimsASN1) { r.Product = "Naples" }), "unknown SNP product"},
		"product on tdx":     {raw(func(r *claimsASN1) { r.Platform = asn1.Enumerated(PlatformTDX); r.Product = "Milan" }), "belongs to snp"},
		"extra element":      {extraElement, ""}, // read as a malformed plaintext field
		"long-form length":   {longForm, "length"},
		"not a sequence":     {append([]byte{0x31}, good[1:]...), "SEQUENCE"},
		"empty":              {nil, ""},
		"oversized":          {make([]byte, MaxClaimsExtension+1), "at most"},
		"boolean 0x01":       {bytes.Replace(raw(func(r *claimsASN1) { r.Debug = true }), []byte{0x01, 0x01, 0xff}, []byte{0x01, 0x01, 0x01}, 1), ""},
		"version not int":    {[]byte{0x30, 0x02, 0x05, 0x00}, "version"},
		"nil with debug set": {raw(func(r *claimsASN1) { r.Platform, r.Insecure, r.Debug = asn1.Enumerated(PlatformNil), true, true }), "debug"},
	}
	for name, tc := range cases {
		_, err := ParseClaimsExtension(tc.der)
		if !errors.Is(err, ErrClaims) {
			t.Errorf("%s: err = %v, want ErrClaims", name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, tc.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", name, err)
		}
	}
}

func TestClaimsMarshalValidates(t *testing.T) {
	bad := []*Claims{
		{Platform: 0},
		{Platform: PlatformNil},
		{Platform: PlatformSNP, Insecure: true},
		{Platform: PlatformNil, Insecure: true, Debug: true},
		{Platform: PlatformTDX, Measurement: make([]byte, 65)},
	}
	for _, c := range bad {
		if _, err := c.Marshal(); !errors.Is(err, ErrClaims) {
			t.Errorf("Marshal(%+v): err = %v, want ErrClaims", c, err)
		}
		if _, err := c.Extension(); !errors.Is(err, ErrClaims) {
			t.Errorf("Extension(%+v): err = %v, want ErrClaims", c, err)
		}
	}
}

func TestPlatformString(t *testing.T) {
	for p, want := range map[Platform]string{PlatformNil: "nil", PlatformSNP: "snp", PlatformTDX: "tdx", 9: "unknown(9)"} {
		if got := p.String(); got != want {
			t.Errorf("Platform(%d).String() = %q, want %q", int(p), got, want)
		}
	}
}
