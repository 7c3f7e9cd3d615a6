package updates

import (
	"fmt"
	"strings"
)

// apk's version order, written from the rules apk-tools documents for
// pkgver (apk-package(5), APKBUILD reference) and checks in its
// test/version.data:
//
//	version  = number {"." number} [letter] {"_" suffix [number]} ["~" hash] ["-r" number]
//
// Two versions are compared token by token while both have a token of the
// same kind. Numbers compare by value, except a dotted number with a
// leading zero in either version, which compares as text (so 1.02 < 1.1).
// Suffixes rank _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git
// < _hg < _p. When one version runs out or moves to a later kind of token
// first, it is the smaller one, unless the other continues with a
// pre-release suffix (_alpha, _beta, _pre, _rc): 1.0_rc1 < 1.0 < 1.0.1,
// 1.0 < 1.0a, 1.0 < 1.0_p1, 1.0 < 1.0-r1.

// apkKind is the kind of an apk version token, in the order the grammar
// allows them; a version that stops sooner sorts lower.
type apkKind int

const (
	apkFirst     apkKind = iota // leading number
	apkNumber                   // .N
	apkLetter                   // one lower-case letter after a number
	apkSuffix                   // _alpha, _p, ...
	apkSuffixNum                // the number right after a suffix
	apkHash                     // ~hex
	apkRevision                 // -rN
	apkEnd                      // no more tokens
)

// apkToken is one token: its kind and its text without the separator.
type apkToken struct {
	kind apkKind
	text string
}

// apkSuffixRank orders the known suffixes around "no suffix" (0);
// negative ranks are pre-releases.
var apkSuffixRank = map[string]int{
	"alpha": -4, "beta": -3, "pre": -2, "rc": -1,
	"cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5,
}

// parseApkVersion splits v into tokens or says what is wrong with it.
func parseApkVersion(v string) ([]apkToken, error) {
	n := leadingDigits(v)
	if n == 0 {
		return nil, fmt.Errorf("parsing Alpine version %q: must start with a number", clip(v))
	}
	toks := []apkToken{{apkFirst, v[:n]}}
	for rest := v[n:]; rest != ""; {
		tok, size, err := nextApkToken(rest, toks[len(toks)-1].kind)
		if err != nil {
			return nil, fmt.Errorf("parsing Alpine version %q: %w at %q", clip(v), err, clip(rest))
		}
		toks = append(toks, tok)
		rest = rest[size:]
	}
	return toks, nil
}

// nextApkToken reads the token at the start of s, which follows a token of
// kind prev, and returns it with the bytes it used.
func nextApkToken(s string, prev apkKind) (apkToken, int, error) {
	switch c := s[0]; {
	case c == '.' && prev <= apkNumber:
		if n := leadingDigits(s[1:]); n > 0 {
			return apkToken{apkNumber, s[1 : 1+n]}, 1 + n, nil
		}
		return apkToken{}, 0, fmt.Errorf("a dot not followed by a number")
	case c >= 'a' && c <= 'z' && prev <= apkNumber:
		return apkToken{apkLetter, s[:1]}, 1, nil
	case c >= '0' && c <= '9' && prev == apkSuffix:
		n := leadingDigits(s)
		return apkToken{apkSuffixNum, s[:n]}, n, nil
	case c == '_' && prev <= apkSuffixNum:
		n := 1 + strings.IndexFunc(s[1:]+"!", func(r rune) bool { return r < 'a' || r > 'z' })
		if _, ok := apkSuffixRank[s[1:n]]; !ok {
			return apkToken{}, 0, fmt.Errorf("unknown suffix %q (want _alpha, _beta, _pre, _rc, _cvs, _svn, _git, _hg or _p)", clip(s[1:n]))
		}
		return apkToken{apkSuffix, s[1:n]}, n, nil
	case c == '~' && prev < apkHash:
		n := 1 + strings.IndexFunc(s[1:]+"!", func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) })
		if n == 1 {
			return apkToken{}, 0, fmt.Errorf("\"~\" not followed by a hex commit hash")
		}
		return apkToken{apkHash, s[1:n]}, n, nil
	case strings.HasPrefix(s, "-r") && prev < apkRevision:
		if n := leadingDigits(s[2:]); n > 0 {
			return apkToken{apkRevision, s[2 : 2+n]}, 2 + n, nil
		}
		return apkToken{}, 0, fmt.Errorf("\"-r\" not followed by a number")
	}
	return apkToken{}, 0, fmt.Errorf("unexpected character")
}

// leadingDigits counts the ASCII digits s starts with.
func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// compareApk orders two apk versions as apk does: -1, 0 or +1.
func compareApk(a, b string) (int, error) {
	ta, err := parseApkVersion(a)
	if err != nil {
		return 0, err
	}
	tb, err := parseApkVersion(b)
	if err != nil {
		return 0, err
	}
	i := 0
	for ; i < len(ta) && i < len(tb) && ta[i].kind == tb[i].kind; i++ {
		if c := compareApkToken(ta[i], tb[i]); c != 0 {
			return c, nil
		}
	}
	return compareApkTail(tokenAt(ta, i), tokenAt(tb, i)), nil
}

// tokenAt is toks[i], or an apkEnd token past the last one.
func tokenAt(toks []apkToken, i int) apkToken {
	if i < len(toks) {
		return toks[i]
	}
	return apkToken{kind: apkEnd}
}

// compareApkTail orders two versions equal up to where their next tokens
// differ in kind: a pre-release suffix sorts lowest; otherwise the version
// that goes on with an earlier kind of token (more of the version proper)
// is the greater.
func compareApkTail(a, b apkToken) int {
	switch {
	case a.kind == b.kind:
		return 0
	case a.kind == apkSuffix && apkSuffixRank[a.text] < 0:
		return -1
	case b.kind == apkSuffix && apkSuffixRank[b.text] < 0:
		return 1
	case a.kind > b.kind:
		return -1
	default:
		return 1
	}
}

// compareApkToken compares two tokens of the same kind.
func compareApkToken(a, b apkToken) int {
	switch a.kind {
	case apkNumber:
		if a.text[0] == '0' || b.text[0] == '0' {
			return sign(strings.Compare(a.text, b.text))
		}
		return compareDigits(a.text, b.text)
	case apkFirst, apkSuffixNum, apkRevision:
		return compareDigits(a.text, b.text)
	case apkSuffix:
		return sign(apkSuffixRank[a.text] - apkSuffixRank[b.text])
	default: // letter, hash
		return sign(strings.Compare(a.text, b.text))
	}
}

// compareDigits compares two digit strings by value, however long.
func compareDigits(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return sign(strings.Compare(a, b))
}
