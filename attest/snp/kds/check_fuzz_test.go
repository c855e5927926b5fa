package kds

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	sevkds "github.com/google/go-sev-guest/kds"
	sevtest "github.com/google/go-sev-guest/testing"
)

// FuzzParseVCEK feeds arbitrary bytes, as from KDS or a cache file, to the
// certificate check: it must never panic, and whatever it accepts must be a
// certificate for the requested chip.
func FuzzParseVCEK(f *testing.F) {
	var req VCEKRequest
	req.product = Milan
	for i := range req.chipID {
		req.chipID[i] = byte(i + 1)
	}
	req.tcb = 0x4405000000000002
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &sevtest.AmdSignerBuilder{
		Keys: sevtest.DefaultAmdKeys(), ProductName: "Milan-B0", CSPID: "x",
		ArkCreationTime: created, AskCreationTime: created, AsvkCreationTime: created, VcekCreationTime: created, VlekCreationTime: created,
		VcekCustom: sevtest.CertOverride{Extensions: sevtest.CustomExtensions(sevkds.TCBParts{BlSpl: 2, SnpSpl: 5, UcodeSpl: 0x44}, req.chipID[:], "", "Milan-B0")},
	}
	signer, err := b.TestOnlyCertChain()
	if err != nil {
		f.Fatal(err)
	}
	vcek := signer.Vcek.Raw
	if _, err := parseVCEK(vcek, req); err != nil {
		f.Fatalf("seed VCEK must pass: %v", err)
	}
	f.Add(vcek)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vcek}))
	f.Add(signer.Ask.Raw)
	f.Add([]byte("<!DOCTYPE html><html></html>"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		der, err := parseVCEK(data, req)
		if err != nil {
			if bytes.ContainsRune([]byte(err.Error()), '\n') {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		if _, err := x509.ParseCertificate(der); err != nil {
			t.Fatalf("accepted bytes that do not parse: %v", err)
		}
	})
}

// FuzzParseCRL: the CRL reader must never panic on bytes from KDS or disk.
func FuzzParseCRL(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	issuer := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ARK"}, KeyUsage: x509.KeyUsageCRLSign, SubjectKeyId: []byte{1}}
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(7), RevocationTime: now}}}, issuer, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(crl)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl}))
	f.Add([]byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		crl, der, err := parseCRL(data)
		if err != nil {
			return
		}
		if crl == nil || len(der) == 0 {
			t.Fatal("accepted a CRL but returned nothing")
		}
	})
}
