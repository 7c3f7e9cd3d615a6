package trust

import (
	"bytes"
	"encoding/base64"
	"unicode/utf8"
)

// fastDecodeEnvelope decodes the canonical JSON form that Marshal writes
// (and most DSSE implementations produce) without encoding/json's
// byte-at-a-time scanner, which would otherwise cost a cached verification
// about half as much again as its one signature check.
//
// It accepts only a narrow subset: exact-case known keys, each at most once,
// strings without escapes, valid UTF-8 and no control characters. On that
// subset encoding/json yields the identical Envelope (FuzzFastDecodeMatches
// checks this); anything else returns ok=false and ParseEnvelope falls back
// to encoding/json, so the fast path never changes what is accepted.
func fastDecodeEnvelope(raw []byte) (e Envelope, ok bool) {
	d := fastDecoder{buf: raw}
	if !d.object(func(key []byte) bool {
		switch string(key) {
		case "payloadType":
			s, ok := d.str()
			e.PayloadType = string(s)
			return ok
		case "payload":
			e.Payload, ok = d.b64()
			return ok
		case "signatures":
			e.Signatures, ok = d.signatures()
			return ok
		}
		return false
	}, 3) {
		return Envelope{}, false
	}
	d.space()
	return e, d.pos == len(d.buf)
}

type fastDecoder struct {
	buf []byte
	pos int
}

func (d *fastDecoder) space() {
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// consume skips whitespace and then c.
func (d *fastDecoder) consume(c byte) bool {
	d.space()
	if d.pos < len(d.buf) && d.buf[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// peek reports whether the next non-space byte is c, without consuming it.
func (d *fastDecoder) peek(c byte) bool {
	d.space()
	return d.pos < len(d.buf) && d.buf[d.pos] == c
}

// str reads a string with no escapes, valid UTF-8, no control characters.
func (d *fastDecoder) str() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	end := bytes.IndexByte(d.buf[d.pos:], '"')
	if end < 0 {
		return nil, false
	}
	s := d.buf[d.pos : d.pos+end]
	d.pos += end + 1
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return nil, false
	}
	for _, c := range s {
		if c < 0x20 {
			return nil, false
		}
	}
	return s, true
}

// b64 reads a string holding standard base64, as encoding/json decodes
// []byte fields.
func (d *fastDecoder) b64() ([]byte, bool) {
	s, ok := d.str()
	if !ok {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	return out[:n], err == nil
}

// object reads {"key": value, ...}; field reads each value. Keys must be
// distinct and there may be at most maxKeys of them.
func (d *fastDecoder) object(field func(key []byte) bool, maxKeys int) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	var seen [3]string
	for n := 0; ; n++ {
		key, ok := d.str()
		if !ok || n >= maxKeys || !d.consume(':') {
			return false
		}
		for _, k := range seen[:n] {
			if k == string(key) {
				return false
			}
		}
		seen[n] = string(key)
		if !field(key) {
			return false
		}
		if d.consume('}') {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}

// array reads [elem, ...] calling elem for each element.
func (d *fastDecoder) array(elem func() bool) bool {
	if !d.consume('[') {
		return false
	}
	if d.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.consume(']') {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}

func (d *fastDecoder) signatures() ([]Signature, bool) {
	sigs := []Signature{}
	ok := d.array(func() bool {
		if len(sigs) >= MaxSignatures+1 {
			return false // let the slow path report it
		}
		var s Signature
		ok := d.object(func(key []byte) bool {
			var ok bool
			switch string(key) {
			case "keyid":
				var k []byte
				k, ok = d.str()
				s.KeyID = string(k)
			case "sig":
				s.Sig, ok = d.b64()
			case "certificates":
				s.Certificates, ok = d.certificates()
			}
			return ok
		}, 3)
		sigs = append(sigs, s)
		return ok
	})
	return sigs, ok
}

func (d *fastDecoder) certificates() ([][]byte, bool) {
	if d.peek('n') {
		return nil, false // null: leave to encoding/json
	}
	certs := [][]byte{}
	ok := d.array(func() bool {
		c, ok := d.b64()
		certs = append(certs, c)
		return ok && len(certs) <= MaxChainLength
	})
	return certs, ok
}
