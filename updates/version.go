package updates

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
	debversion "github.com/knqyf263/go-deb-version"
	rpmversion "github.com/knqyf263/go-rpm-version"
)

// ErrUnknownEcosystem means no version order is known for an ecosystem, so
// ECOSYSTEM ranges in it cannot be evaluated.
var ErrUnknownEcosystem = errors.New("unknown ecosystem")

// Family is a group of ecosystems that share one version order.
type Family string

// Version families.
const (
	FamilyDeb     Family = "deb"
	FamilyRPM     Family = "rpm"
	FamilyApk     Family = "apk"
	FamilyUnknown Family = ""
)

// familyOf maps OSV ecosystem names (the part before the first colon) to the
// version order their packages use.
var familyOf = map[string]Family{
	"Debian":       FamilyDeb,
	"Ubuntu":       FamilyDeb,
	"Alpine":       FamilyApk,
	"Wolfi":        FamilyApk,
	"Chainguard":   FamilyApk,
	"Red Hat":      FamilyRPM,
	"Rocky Linux":  FamilyRPM,
	"AlmaLinux":    FamilyRPM,
	"CentOS":       FamilyRPM,
	"Fedora":       FamilyRPM,
	"Oracle Linux": FamilyRPM,
	"SUSE":         FamilyRPM,
	"openSUSE":     FamilyRPM,
	"openEuler":    FamilyRPM,
	"Mageia":       FamilyRPM,
	"Photon OS":    FamilyRPM,
	"Azure Linux":  FamilyRPM,
}

// EcosystemFamily returns the version family of an OSV ecosystem such as
// "Debian:12" or "Red Hat:enterprise_linux:9", or FamilyUnknown.
func EcosystemFamily(ecosystem string) Family {
	base, _, _ := strings.Cut(ecosystem, ":")
	return familyOf[base]
}

// CompareVersions orders two versions by the rules of ecosystem's package
// manager: dpkg for Debian and Ubuntu, rpm for the Red Hat family and SUSE,
// apk for Alpine (our own implementation of apk's rules, version_apk.go). It returns -1, 0 or +1, or an error naming the version that
// does not parse. For rpm, epochs are compared only when both versions carry
// one: an advisory that writes "3.0.7-18.el9" without the installed
// package's "1:" means that version, not epoch 0.
func CompareVersions(ecosystem, a, b string) (int, error) {
	if err := checkVersionText(a); err != nil {
		return 0, err
	}
	if err := checkVersionText(b); err != nil {
		return 0, err
	}
	switch EcosystemFamily(ecosystem) {
	case FamilyDeb:
		return compareDeb(a, b)
	case FamilyRPM:
		return compareRPM(a, b)
	case FamilyApk:
		return compareApk(a, b)
	}
	return 0, fmt.Errorf("comparing %q and %q: %w %q", a, b, ErrUnknownEcosystem, clip(ecosystem))
}

// ValidVersion reports whether v parses in ecosystem's version syntax.
func ValidVersion(ecosystem, v string) error {
	_, err := CompareVersions(ecosystem, v, v)
	return err
}

// CompareSemver orders two Semantic Versioning 2.0 versions (a leading "v"
// is tolerated, as on installed versions of Go modules).
func CompareSemver(a, b string) (int, error) {
	va, err := parseSemver(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseSemver(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func parseSemver(s string) (*semver.Version, error) {
	if err := checkVersionText(s); err != nil {
		return nil, err
	}
	v, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v"))
	if err != nil {
		return nil, fmt.Errorf("parsing semantic version %q: %w", s, err)
	}
	return v, nil
}

// checkVersionText refuses what no package manager writes, before the
// string reaches a third-party parser.
func checkVersionText(v string) error {
	if v == "" {
		return errors.New("version is empty")
	}
	if len(v) > MaxVersionLength {
		return fmt.Errorf("version %q: %d bytes exceeds %d", clip(v), len(v), MaxVersionLength)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("version %q: byte %#x at %d is not printable ASCII", clip(v), c, i)
		}
	}
	return nil
}

func compareDeb(a, b string) (int, error) {
	va, err := debversion.NewVersion(a)
	if err != nil {
		return 0, fmt.Errorf("parsing Debian version %q: %w", a, err)
	}
	vb, err := debversion.NewVersion(b)
	if err != nil {
		return 0, fmt.Errorf("parsing Debian version %q: %w", b, err)
	}
	return sign(va.Compare(vb)), nil
}

func compareRPM(a, b string) (int, error) {
	ea, ra, err := splitRPMEpoch(a)
	if err != nil {
		return 0, err
	}
	eb, rb, err := splitRPMEpoch(b)
	if err != nil {
		return 0, err
	}
	if ea != "" && eb != "" {
		ra, rb = a, b
	}
	return sign(rpmversion.NewVersion(ra).Compare(rpmversion.NewVersion(rb))), nil
}

// sign normalises a comparator's result to -1, 0 or +1.
func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// splitRPMEpoch returns the epoch text ("" when absent) and the
// version-release without it.
func splitRPMEpoch(v string) (epoch, rest string, err error) {
	e, r, ok := strings.Cut(v, ":")
	if !ok {
		return "", v, rpmRestValid(v)
	}
	if e == "" || len(e) > 9 || strings.Trim(e, "0123456789") != "" {
		return "", "", fmt.Errorf("parsing rpm version %q: epoch %q is not a number", v, clip(e))
	}
	return e, r, rpmRestValid(r)
}

func rpmRestValid(r string) error {
	if r == "" || strings.ContainsRune(r, ':') {
		return fmt.Errorf("parsing rpm version %q: want [epoch:]version[-release]", r)
	}
	if !strings.ContainsAny(r[:1], "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return fmt.Errorf("parsing rpm version %q: must start with a letter or digit", r)
	}
	return nil
}
