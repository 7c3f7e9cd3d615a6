package sim

import "testing"

func TestAtRest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rates []float64
		want  bool
	}{
		{"too few windows", []float64{1.0, 1.0}, false},
		{"still falling", []float64{1.9, 1.7, 1.5, 1.3}, false},
		{"one flat window among falling ones", []float64{1.9, 1.65, 1.66, 1.2}, false},
		{"flat for two windows", []float64{1.9, 1.2, 1.15, 1.18}, true},
		{"noise above the low is rest", []float64{1.0, 0.6, 0.7, 0.62}, true},
		{"saturated is a backlog", []float64{1.95, 1.9, 1.9, 1.9}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := atRest(tc.rates, 2); got != tc.want {
				t.Errorf("atRest(%v) = %v, want %v", tc.rates, got, tc.want)
			}
		})
	}
}
