package origin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchnet/patchnet/trust"
)

func TestAllows(t *testing.T) {
	p := Policy{Origins: []string{
		"https://deb.example.org/pool/",
		"https://downloads.example.com:8443/releases",
		"http://[::1]:8080/",
	}}
	for _, tc := range []struct {
		name, url string
		why       string // "" for allowed, else a substring of the reason
	}{
		{"under the prefix", "https://deb.example.org/pool/main/h/hello_1.0_all.deb", ""},
		{"host case", "HTTPS://Deb.Example.ORG/pool/x.deb", ""},
		{"explicit default port", "https://deb.example.org:443/pool/x.deb", ""},
		{"percent-encoded letters decode inside", "https://deb.example.org/p%6fol/x.deb", ""},
		{"prefix without slash: the file itself", "https://downloads.example.com:8443/releases", ""},
		{"prefix without slash: below it", "https://downloads.example.com:8443/releases/v1/x.tgz", ""},
		{"ipv6 literal", "http://[::1]:8080/anything.rpm", ""},
		{"other host", "https://evil.example/pool/x.deb", "host evil.example is not in the origins"},
		{"look-alike host", "https://deb.example.org.evil.example/pool/x.deb", "host deb.example.org.evil.example is not"},
		{"trailing-dot host", "https://deb.example.org./pool/x.deb", "is not in the origins"},
		{"userinfo hiding the host", "https://deb.example.org@evil.example/pool/x.deb", "userinfo"},
		{"userinfo", "https://user:pw@deb.example.org/pool/x.deb", "userinfo"},
		{"http where only https is listed", "http://deb.example.org/pool/x.deb", "scheme http is not allowed"},
		{"other port", "https://deb.example.org:8443/pool/x.deb", "port 8443 is not allowed"},
		{"missing port", "https://downloads.example.com/releases/x.tgz", "port 443 is not allowed"},
		{"segment boundary", "https://deb.example.org/poolevil/x.deb", "is not under any origin"},
		{"segment boundary without slash", "https://downloads.example.com:8443/releases-evil/x", "is not under any origin"},
		{"the directory itself", "https://deb.example.org/pool", "is not under any origin"},
		{"dot-dot traversal", "https://deb.example.org/pool/../evil/x.deb", "dot segment"},
		{"encoded dot-dot", "https://deb.example.org/pool/%2e%2e/evil/x.deb", "dot segment"},
		{"encoded dot-dot upper case", "https://deb.example.org/pool/%2E%2E/evil", "dot segment"},
		{"dot segment", "https://deb.example.org/pool/./x.deb", "dot segment"},
		{"tomcat path parameter", "https://deb.example.org/pool/..;/evil/x.deb", "dot segment"},
		{"encoded slash", "https://deb.example.org/pool%2F..%2Fevil/x.deb", "encoded slash"},
		{"encoded slash lower case", "https://deb.example.org/pool/a%2fb", "encoded slash"},
		{"encoded backslash", "https://deb.example.org/pool/..%5Cevil", "encoded slash"},
		{"backslash", `https://deb.example.org/pool/..\evil`, "backslash"},
		{"empty segment", "https://deb.example.org/pool//x.deb", "empty segment"},
		{"encoded NUL", "https://deb.example.org/pool/x.deb%00.txt", "control byte"},
		{"encoded newline", "https://deb.example.org/pool/x%0a.deb", "control byte"},
		{"query", "https://deb.example.org/pool/x.deb?redirect=https://evil.example/", "query"},
		{"empty query", "https://deb.example.org/pool/x.deb?", "query"},
		{"fragment", "https://deb.example.org/pool/x.deb#../../evil", "fragment"},
		{"ftp", "ftp://deb.example.org/pool/x.deb", "http or https"},
		{"no host", "https:///pool/x.deb", "host"},
		{"port out of range", "https://deb.example.org:70000/pool/x.deb", "port"},
		{"relative", "/pool/x.deb", "http or https"},
		{"too long", "https://deb.example.org/pool/" + strings.Repeat("a", 3000), "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Allows(tc.url)
			if tc.why == "" {
				if err != nil {
					t.Fatalf("Allows(%q) = %v, want allowed", tc.url, err)
				}
				return
			}
			if !errors.Is(err, ErrOutsideOrigins) || !errors.Is(err, trust.ErrUntrusted) {
				t.Fatalf("Allows(%q) = %v, want ErrOutsideOrigins", tc.url, err)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("Allows(%q) = %q, want the reason to say %q", tc.url, err, tc.why)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	keys(t)
	notKey := filepath.Join(t.TempDir(), "not-a-key.asc")
	if err := os.WriteFile(notKey, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	binKey := filepath.Join(t.TempDir(), "vendor.gpg")
	bin, err := gpg("--export", vendorKey.fpr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(binKey, []byte(bin), 0o644); err != nil {
		t.Fatal(err)
	}
	good := []string{"https://deb.example.org/pool/"}
	for _, tc := range []struct {
		name string
		p    Policy
		want string // "" for valid
	}{
		{"valid", Policy{Origins: good, Keys: []string{vendorKey.pub, vendorRSAKey.pub}}, ""},
		{"valid without signatures", Policy{Origins: good, AllowUnsigned: true}, ""},
		{"default needs origins", DefaultPolicy(), "origins: required"},
		{"origin scheme", Policy{Origins: []string{"ftp://deb.example.org/"}}, `origins[0] "ftp://deb.example.org/"`},
		{"origin with query", Policy{Origins: []string{"https://deb.example.org/pool/?x=1"}}, "query"},
		{"origin with userinfo", Policy{Origins: []string{"https://u@deb.example.org/"}}, "userinfo"},
		{"binary key file", Policy{Origins: good, Keys: []string{binKey}}, ""},
		{"origin traversal", Policy{Origins: []string{"https://deb.example.org/a/../"}}, "dot segment"},
		{"too many origins", Policy{Origins: make([]string, MaxOrigins+1)}, "exceed"},
		{"missing key file", Policy{Origins: good, Keys: []string{"/nonexistent/vendor.asc"}}, `keys[0] "/nonexistent/vendor.asc"`},
		{"not a key", Policy{Origins: good, Keys: []string{notKey}}, "keys[0]"},
		{"signature required without keys", Policy{Origins: good}, "allow_unsigned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
