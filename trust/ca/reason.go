package ca

import (
	"fmt"
	"sort"
	"strings"
)

// Reason is an RFC 5280 revocation reason code.
type Reason int

// The reasons `ca revoke --reason` accepts.
const (
	ReasonUnspecified          Reason = 0
	ReasonKeyCompromise        Reason = 1
	ReasonCACompromise         Reason = 2
	ReasonAffiliationChanged   Reason = 3
	ReasonSuperseded           Reason = 4
	ReasonCessationOfOperation Reason = 5
)

var reasonNames = map[Reason]string{
	ReasonUnspecified: "unspecified", ReasonKeyCompromise: "keyCompromise",
	ReasonCACompromise: "cACompromise", ReasonAffiliationChanged: "affiliationChanged",
	ReasonSuperseded: "superseded", ReasonCessationOfOperation: "cessationOfOperation",
}

// String is the RFC 5280 name.
func (r Reason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// ParseReason reads a reason name, case-insensitively.
func ParseReason(s string) (Reason, error) {
	var names []string
	for r, n := range reasonNames {
		if strings.EqualFold(n, s) {
			return r, nil
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("unknown revocation reason %q (want one of %s)", s, strings.Join(names, ", "))
}
