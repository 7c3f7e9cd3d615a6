package origin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/patchnet/patchnet/trust"
)

// The rpm file format (lead, signature header, header, payload), as rpm
// writes it: https://rpm-software-management.github.io/rpm/manual/format.html
const (
	rpmLeadSize       = 96
	rpmLeadSigTypeOff = 78 // signature_type: 5 is a header-style signature
	rpmHeaderSigType  = 5
	rpmIntroSize      = 16 // magic, version, reserved, il, dl
	rpmEntrySize      = 16 // tag, type, offset, count
	rpmTypeInt32      = 4
	rpmTypeString     = 6
	rpmTypeBin        = 7
	rpmTypeStrArray   = 8
	// Signature header tags holding OpenPGP signatures.
	rpmSigTagDSA = 267  // header only
	rpmSigTagRSA = 268  // header only
	rpmSigTagPGP = 1002 // header and payload
	rpmSigTagGPG = 1005 // header and payload
	// Header tags: the payload's digest (as stored, compressed) and its
	// algorithm (OpenPGP hash ids).
	rpmTagPayloadDigest     = 5092
	rpmTagPayloadDigestAlgo = 5093
)

var (
	rpmLeadMagic   = []byte{0xed, 0xab, 0xee, 0xdb}
	rpmHeaderMagic = []byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0}
)

// rpmSigTag names a signature tag and says what its signature covers.
type rpmSigTag struct {
	name string
	kind SignatureKind
}

var rpmSigTags = map[uint32]rpmSigTag{
	rpmSigTagDSA: {"RPMSIGTAG_DSA", KindRPMHeader},
	rpmSigTagRSA: {"RPMSIGTAG_RSA", KindRPMHeader},
	rpmSigTagPGP: {"RPMSIGTAG_PGP", KindRPMHeaderPayload},
	rpmSigTagGPG: {"RPMSIGTAG_GPG", KindRPMHeaderPayload},
}

// section is a byte range of the file.
type section struct{ off, len int64 }

// rpmPackage is what the signature check needs of an rpm: where its header
// and payload lie, the signatures of its signature header, and the payload
// digest its header carries ("" and 0 when it has none).
type rpmPackage struct {
	header, payload section
	sigs            []rpmSig
	payloadDigest   string
	payloadAlgo     uint32
}

type rpmSig struct {
	tag  uint32
	blob []byte
}

// headerBlock is one header structure: where it starts, its entry count
// (il), data size (dl) and raw index.
type headerBlock struct {
	off    int64
	il, dl uint32
	index  []byte
}

func (h headerBlock) dataOff() int64 { return h.off + rpmIntroSize + rpmEntrySize*int64(h.il) }
func (h headerBlock) end() int64     { return h.dataOff() + int64(h.dl) }

type indexEntry struct{ tag, typ, offset, count uint32 }

func (h headerBlock) entry(i int) indexEntry {
	b := h.index[i*rpmEntrySize:]
	be := binary.BigEndian
	return indexEntry{be.Uint32(b), be.Uint32(b[4:]), be.Uint32(b[8:]), be.Uint32(b[12:])}
}

// parseRPM reads an rpm's structure from r of size bytes. Every length is
// checked against the bounds and the file before anything is read.
func parseRPM(r io.ReaderAt, size int64) (*rpmPackage, error) {
	if err := readLead(r, size); err != nil {
		return nil, err
	}
	sigHdr, err := readHeaderBlock(r, size, rpmLeadSize, MaxRPMSigEntries, MaxRPMSigData)
	if err != nil {
		return nil, fmt.Errorf("reading signature header: %w", err)
	}
	sigs, err := readSigs(r, sigHdr)
	if err != nil {
		return nil, fmt.Errorf("reading signature header: %w", err)
	}
	hdr, err := readHeaderBlock(r, size, sigHdr.end()+pad8(sigHdr.dl), MaxRPMHeaderEntries, MaxRPMHeaderData)
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	p := &rpmPackage{
		header:  section{hdr.off, hdr.end() - hdr.off},
		payload: section{hdr.end(), size - hdr.end()},
		sigs:    sigs,
	}
	if p.payloadDigest, p.payloadAlgo, err = readPayloadDigest(r, hdr); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	return p, nil
}

// pad8 is the padding after a signature header's data.
func pad8(dl uint32) int64 { return int64((8 - dl%8) % 8) }

func readLead(r io.ReaderAt, size int64) error {
	lead, err := readAt(r, size, 0, rpmLeadSize)
	if err != nil {
		return fmt.Errorf("reading lead: %w", err)
	}
	if !bytes.Equal(lead[:4], rpmLeadMagic) {
		return fmt.Errorf("%w: not an rpm (lead magic %x)", trust.ErrMalformed, lead[:4])
	}
	if t := binary.BigEndian.Uint16(lead[rpmLeadSigTypeOff:]); t != rpmHeaderSigType {
		return fmt.Errorf("%w: lead signature type %d, want %d", trust.ErrMalformed, t, rpmHeaderSigType)
	}
	return nil
}

// readHeaderBlock reads a header's intro and index at off.
func readHeaderBlock(r io.ReaderAt, size, off int64, maxIL, maxDL uint32) (headerBlock, error) {
	intro, err := readAt(r, size, off, rpmIntroSize)
	if err != nil {
		return headerBlock{}, err
	}
	if !bytes.Equal(intro[:8], rpmHeaderMagic) {
		return headerBlock{}, fmt.Errorf("%w: header magic %x", trust.ErrMalformed, intro[:8])
	}
	h := headerBlock{off: off, il: binary.BigEndian.Uint32(intro[8:]), dl: binary.BigEndian.Uint32(intro[12:])}
	if h.il == 0 {
		return headerBlock{}, fmt.Errorf("%w: header without entries", trust.ErrMalformed)
	}
	if h.il > maxIL || h.dl > maxDL {
		return headerBlock{}, fmt.Errorf("%w: %d entries and %d data bytes, bounds %d and %d",
			trust.ErrOversized, h.il, h.dl, maxIL, maxDL)
	}
	if h.end() > size {
		return headerBlock{}, fmt.Errorf("%w: header ends at %d, past the file's %d bytes", trust.ErrMalformed, h.end(), size)
	}
	h.index, err = readAt(r, size, off+rpmIntroSize, int64(h.il)*rpmEntrySize)
	return h, err
}

// readSigs returns the OpenPGP signatures of the signature header.
func readSigs(r io.ReaderAt, h headerBlock) ([]rpmSig, error) {
	data, err := readAt(r, h.end(), h.dataOff(), int64(h.dl))
	if err != nil {
		return nil, err
	}
	var sigs []rpmSig
	seen := map[uint32]bool{}
	for i := range int(h.il) {
		e := h.entry(i)
		if _, ok := rpmSigTags[e.tag]; !ok {
			continue
		}
		if seen[e.tag] {
			return nil, fmt.Errorf("%w: tag %d appears twice", trust.ErrMalformed, e.tag)
		}
		seen[e.tag] = true
		blob, err := sigBlob(e, data)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, rpmSig{tag: e.tag, blob: blob})
	}
	return sigs, nil
}

func sigBlob(e indexEntry, data []byte) ([]byte, error) {
	if e.typ != rpmTypeBin {
		return nil, fmt.Errorf("%w: tag %d has type %d, want binary", trust.ErrMalformed, e.tag, e.typ)
	}
	if e.count == 0 || e.count > MaxSignatureBytes {
		return nil, fmt.Errorf("%w: tag %d holds %d bytes, bounds 1..%d", trust.ErrOversized, e.tag, e.count, MaxSignatureBytes)
	}
	if uint64(e.offset)+uint64(e.count) > uint64(len(data)) {
		return nil, fmt.Errorf("%w: tag %d lies past the data", trust.ErrMalformed, e.tag)
	}
	return bytes.Clone(data[e.offset : e.offset+e.count]), nil
}

// readPayloadDigest returns the payload digest and its algorithm from the
// header, "" and 0 if it carries none.
func readPayloadDigest(r io.ReaderAt, h headerBlock) (string, uint32, error) {
	digest, algo := -1, -1
	for i := range int(h.il) {
		switch h.entry(i).tag {
		case rpmTagPayloadDigest:
			if digest >= 0 {
				return "", 0, fmt.Errorf("%w: payload digest appears twice", trust.ErrMalformed)
			}
			digest = i
		case rpmTagPayloadDigestAlgo:
			if algo >= 0 {
				return "", 0, fmt.Errorf("%w: payload digest algorithm appears twice", trust.ErrMalformed)
			}
			algo = i
		}
	}
	if digest < 0 || algo < 0 {
		return "", 0, nil
	}
	return readDigestEntries(r, h, h.entry(digest), h.entry(algo))
}

func readDigestEntries(r io.ReaderAt, h headerBlock, digest, algo indexEntry) (string, uint32, error) {
	if algo.typ != rpmTypeInt32 || algo.count == 0 || algo.offset%4 != 0 || uint64(algo.offset)+4 > uint64(h.dl) {
		return "", 0, fmt.Errorf("%w: bad payload digest algorithm entry", trust.ErrMalformed)
	}
	b, err := readAt(r, h.end(), h.dataOff()+int64(algo.offset), 4)
	if err != nil {
		return "", 0, err
	}
	if (digest.typ != rpmTypeStrArray && digest.typ != rpmTypeString) || digest.count == 0 || digest.offset >= h.dl {
		return "", 0, fmt.Errorf("%w: bad payload digest entry", trust.ErrMalformed)
	}
	s, err := readCString(r, h, digest.offset)
	return s, binary.BigEndian.Uint32(b), err
}

// readCString reads a NUL-terminated string of at most MaxRPMDigestLength
// bytes at offset in h's data.
func readCString(r io.ReaderAt, h headerBlock, offset uint32) (string, error) {
	n := min(int64(h.dl-offset), MaxRPMDigestLength+1)
	b, err := readAt(r, h.end(), h.dataOff()+int64(offset), n)
	if err != nil {
		return "", err
	}
	s, _, ok := bytes.Cut(b, []byte{0})
	if !ok {
		return "", fmt.Errorf("%w: payload digest is not a string of at most %d bytes", trust.ErrMalformed, MaxRPMDigestLength)
	}
	return string(s), nil
}

// readAt reads n bytes at off, which must end by limit.
func readAt(r io.ReaderAt, limit, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > limit {
		return nil, fmt.Errorf("%w: truncated (%d bytes at %d, file or block ends at %d)", trust.ErrMalformed, n, off, limit)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("reading %d bytes at %d: %w", n, off, err)
	}
	return b, nil
}
