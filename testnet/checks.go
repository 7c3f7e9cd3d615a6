package testnet

import "slices"

// FailedChecks names the checks that are false, sorted. A run with any
// failed, and `patchnet testnet` exits non-zero.
func (r *Report) FailedChecks() []string {
	var out []string
	for name, ok := range r.Checks {
		if !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
