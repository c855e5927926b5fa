package attest

import (
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// ReportDataLabel separates donjon's report data from any other use of a
// SHA-512 over similar bytes. A new construction gets a new label.
const ReportDataLabel = "donjon keep identity v1"

// ReportDataSize is the size of a TEE's report data field (SNP, TDX).
const ReportDataSize = 64

// ErrReportData means evidence binds a different key or workload than the
// one presented.
var ErrReportData = errors.New("attest: report data does not bind this key and workload")

// ReportData is the 64 bytes a keep puts in its evidence to bind its key and
// its workload:
//
//	SHA-512( field(ReportDataLabel) || field(spkiDER) || field(moduleDigest) || field(configDigest) )
//	field(x) = uint64_be(len(x)) || x
//
// Every field is length-prefixed, so distinct inputs never produce the same
// byte string under the hash, however the bytes are split between fields.
// spkiDER is the keep key's SubjectPublicKeyInfo DER (x509.MarshalPKIXPublicKey);
// the digests are SHA-256 of the wasm module and of the config file.
func ReportData(spkiDER []byte, moduleDigest, configDigest [32]byte) [ReportDataSize]byte {
	h := sha512.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(ReportDataLabel))
	field(spkiDER)
	field(moduleDigest[:])
	field(configDigest[:])
	var out [ReportDataSize]byte
	h.Sum(out[:0])
	return out
}

// CheckReportData reports whether got (the report data from verified
// evidence) binds spkiDER, moduleDigest and configDigest. The comparison is
// constant-time; the error wraps ErrReportData.
func CheckReportData(got, spkiDER []byte, moduleDigest, configDigest [32]byte) error {
	if len(got) != ReportDataSize {
		return fmt.Errorf("%w: evidence has %d bytes of report data, want %d", ErrReportData, len(got), ReportDataSize)
	}
	want := ReportData(spkiDER, moduleDigest, configDigest)
	if subtle.ConstantTimeCompare(got, want[:]) != 1 {
		return fmt.Errorf("%w: the evidence was made for another key, module or config; check that the certificate's key and the workload digests are the keep's", ErrReportData)
	}
	return nil
}
