package origin

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/patchnet/patchnet/trust"
)

// rawEntry is one index entry of a synthetic header, with its data.
type rawEntry struct {
	tag, typ, count uint32
	data            []byte
}

// rawHeader lays out a header structure: intro, index, data.
func rawHeader(entries []rawEntry) []byte {
	var index, data bytes.Buffer
	for _, e := range entries {
		for data.Len()%4 != 0 {
			data.WriteByte(0)
		}
		binary.Write(&index, binary.BigEndian, [4]uint32{e.tag, e.typ, uint32(data.Len()), e.count})
		data.Write(e.data)
	}
	out := append([]byte(nil), rpmHeaderMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(entries)))
	out = binary.BigEndian.AppendUint32(out, uint32(data.Len()))
	return append(append(out, index.Bytes()...), data.Bytes()...)
}

// rawRPM lays out a synthetic rpm: lead, signature header (padded),
// header, payload. Only the structure is real; it is a fuzz seed and a
// parser fixture, never a stand-in for rpmbuild's packages.
func rawRPM(sigs, header []rawEntry, payload []byte) []byte {
	lead := make([]byte, rpmLeadSize)
	copy(lead, rpmLeadMagic)
	binary.BigEndian.PutUint16(lead[rpmLeadSigTypeOff:], rpmHeaderSigType)
	sig := rawHeader(sigs)
	dl := binary.BigEndian.Uint32(sig[12:])
	sig = append(sig, make([]byte, pad8(dl))...)
	return append(append(append(lead, sig...), rawHeader(header)...), payload...)
}

func sampleRawRPM() []byte {
	digest := fmt.Sprintf("%x\x00", sha256.Sum256([]byte("payload")))
	return rawRPM(
		[]rawEntry{{rpmSigTagRSA, rpmTypeBin, 4, []byte{0x88, 0x02, 0x04, 0x00}}},
		[]rawEntry{
			{rpmTagPayloadDigest, rpmTypeStrArray, 1, []byte(digest)},
			{rpmTagPayloadDigestAlgo, rpmTypeInt32, 1, []byte{0, 0, 0, 8}},
		},
		[]byte("payload"))
}

func TestParseRawRPM(t *testing.T) {
	good := sampleRawRPM()
	p, err := parseRPM(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.sigs) != 1 || p.payloadAlgo != 8 || p.payload.len != int64(len("payload")) {
		t.Fatalf("parsed %+v", p)
	}
	if err := p.checkPayload(bytes.NewReader(good), nil); err != nil {
		t.Fatalf("payload of the sample: %v", err)
	}
	for _, tc := range []struct {
		name   string
		sigs   []rawEntry
		header []rawEntry
		want   error
	}{
		{"signature tag twice", []rawEntry{{268, rpmTypeBin, 1, []byte{1}}, {268, rpmTypeBin, 1, []byte{1}}}, nil, trust.ErrMalformed},
		{"signature not binary", []rawEntry{{268, rpmTypeString, 1, []byte("x\x00")}}, nil, trust.ErrMalformed},
		{"signature past the data", []rawEntry{{268, rpmTypeBin, 99, []byte{1}}}, nil, trust.ErrMalformed},
		{"signature too big", []rawEntry{{268, rpmTypeBin, MaxSignatureBytes + 1, []byte{1}}}, nil, trust.ErrOversized},
		{"digest twice", nil, []rawEntry{{5092, rpmTypeStrArray, 1, []byte("a\x00")}, {5092, rpmTypeStrArray, 1, []byte("a\x00")}}, trust.ErrMalformed},
		{"digest unterminated", nil, []rawEntry{{5092, rpmTypeStrArray, 1, []byte(strings.Repeat("a", 200))}, {5093, rpmTypeInt32, 1, []byte{0, 0, 0, 8}}}, trust.ErrMalformed},
		{"digest algorithm past the data", nil, []rawEntry{{5092, rpmTypeStrArray, 1, []byte("a\x00")}, {5093, rpmTypeInt32, 1, []byte{8}}}, trust.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.sigs == nil {
				tc.sigs = []rawEntry{{62, rpmTypeBin, 16, make([]byte, 16)}}
			}
			b := rawRPM(tc.sigs, append([]rawEntry{{1000, rpmTypeString, 1, []byte("hello\x00")}}, tc.header...), []byte("payload"))
			if _, err := parseRPM(bytes.NewReader(b), int64(len(b))); !errors.Is(err, tc.want) {
				t.Fatalf("parseRPM = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzParseRPM: the rpm parser never panics, never reads past a bound, and
// what it returns lies inside the file; signature checking over what it
// returns fails cleanly with no keys. Seeds: testdata/fuzz/FuzzParseRPM
// (real rpmbuild packages, rpmsign-signed with throwaway keys) and a
// synthetic one.
func FuzzParseRPM(f *testing.F) {
	f.Add(sampleRawRPM())
	f.Fuzz(func(t *testing.T, b []byte) {
		size := int64(len(b))
		p, err := parseRPM(bytes.NewReader(b), size)
		if err != nil {
			if !errors.Is(err, trust.ErrUntrusted) && !errors.Is(err, io.EOF) {
				t.Fatalf("parse error %v is not a refusal", err)
			}
			return
		}
		if p.header.off < rpmLeadSize+rpmIntroSize || p.header.off+p.header.len != p.payload.off || p.payload.off+p.payload.len != size {
			t.Fatalf("sections %+v %+v do not tile a %d-byte file", p.header, p.payload, size)
		}
		if len(p.payloadDigest) > MaxRPMDigestLength || len(p.sigs) > len(rpmSigTags) {
			t.Fatalf("digest %q, %d signatures", p.payloadDigest, len(p.sigs))
		}
		if sigs, err := p.verifySigs(bytes.NewReader(b), openpgp.EntityList{}); err == nil && len(sigs) > 0 {
			t.Fatalf("signatures %+v verified with no key", sigs)
		}
	})
}

// FuzzAllows: a URL the policy allows parses, names an origin's scheme,
// host and port, lies under its path, and holds no dot segment or encoded
// slash.
func FuzzAllows(f *testing.F) {
	for _, s := range []string{
		"https://deb.example.org/pool/x.deb", "https://deb.example.org/pool/../x", "https://deb.example.org/pool/%2e%2e/x",
		"https://deb.example.org:443/pool/a%2fb", "http://deb.example.org/pool/x", "https://user@deb.example.org/pool/x",
		"https://deb.example.org/pool/..;/x", "https://DEB.example.org/pool/x?y", `https://deb.example.org/pool/..\x`,
	} {
		f.Add(s)
	}
	p := Policy{Origins: []string{"https://deb.example.org/pool/", "http://mirror.example.net:8080/debian"}}
	origins, err := parseOrigins(p.Origins)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if err := p.Allows(raw); err != nil {
			if !errors.Is(err, ErrOutsideOrigins) {
				t.Fatalf("refusal %v does not match ErrOutsideOrigins", err)
			}
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("allowed %q does not parse: %v", raw, err)
		}
		c, err := canonical(u)
		if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("allowed %q: %v", raw, err)
		}
		if !coveredBy(origins, c) || strings.Contains(strings.ToLower(u.EscapedPath()), "%2f") {
			t.Fatalf("allowed %q (%+v) is not under an origin", raw, c)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if name, _, _ := strings.Cut(seg, ";"); name == "." || name == ".." {
				t.Fatalf("allowed %q holds a dot segment", raw)
			}
		}
	})
}

func coveredBy(origins []prefix, c prefix) bool {
	for _, o := range origins {
		if o.scheme == c.scheme && o.host == c.host && o.port == c.port && strings.HasPrefix(c.path, strings.TrimSuffix(o.path, "/")) {
			return true
		}
	}
	return false
}
