package origin

import (
	"fmt"
	"strings"

	"github.com/patchnet/patchnet/updates"
)

// Report is what Check did for one artifact: enough for a supernode's log
// to say why it co-signed or refused.
type Report struct {
	// Name, Size and SHA256 are the artifact's, as announced.
	Name   string         `json:"name"`
	Size   int64          `json:"size"`
	SHA256 updates.Digest `json:"sha256"`
	// URL is the allowed URL the bytes came from, also when their
	// signature was then refused; empty if none yielded them.
	URL string `json:"url,omitempty"`
	// Path is the verified file; empty on error (the file was removed).
	Path string `json:"path,omitempty"`
	// Signatures are the vendor signatures that verified.
	Signatures []Signature `json:"signatures,omitempty"`
	// Unsigned says why the artifact was accepted without a vendor
	// signature; empty when one verified.
	Unsigned string `json:"unsigned,omitempty"`
	// Refused are the URLs the policy refused, never requested.
	Refused []URLResult `json:"refused,omitempty"`
	// Failed are the allowed URLs whose download failed.
	Failed []URLResult `json:"failed,omitempty"`
	// Notes say where signatures were looked for and not found.
	Notes []string `json:"notes,omitempty"`
}

// URLResult is why one URL was refused or failed.
type URLResult struct {
	// URL is the artifact URL (clipped to MaxReasonLength).
	URL string `json:"url"`
	// Reason is the policy's refusal or the download's error.
	Reason string `json:"reason"`
}

// Summary is one line for logs: where the bytes came from and what vouched
// for them.
func (r *Report) Summary() string {
	if r.Path == "" {
		return fmt.Sprintf("%s: not verified (bytes from %q; URLs refused: %s)", r.Name, r.URL, r.refusals())
	}
	var by []string
	for _, s := range r.Signatures {
		by = append(by, s.String())
	}
	if len(by) == 0 {
		by = append(by, "unsigned: "+r.Unsigned)
	}
	return fmt.Sprintf("%s (%d bytes) from %s: %s", r.Name, r.Size, r.URL, strings.Join(by, "; "))
}

// refusals lists refused URLs and their reasons.
func (r *Report) refusals() string {
	if len(r.Refused) == 0 {
		return "none"
	}
	var out []string
	for _, u := range r.Refused {
		out = append(out, u.URL+": "+u.Reason)
	}
	return strings.Join(out, "; ")
}
