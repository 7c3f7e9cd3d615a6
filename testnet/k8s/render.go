package k8s

import (
	"context"
	"fmt"
)

// Rendered is what Render made: every zone's spec and material, the first
// zone's first, and the manifests of them all in apply order.
type Rendered struct {
	Specs   []Spec
	Zones   []*Zone
	Objects []Object
}

// Render makes the material of every zone s renders (Spec.Zones) in dir,
// a scratch directory the caller removes, and builds their manifests.
// progress, if set, is told of each node issued, across the zones.
func Render(ctx context.Context, dir string, s Spec, progress func(done, total int)) (*Rendered, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("checking the spec: %w", err)
	}
	r := &Rendered{Specs: s.Zones()}
	total, before := 0, 0
	for _, zs := range r.Specs {
		total += zs.Supernodes + zs.Agents + 1
	}
	tell := func(done, _ int) {
		if progress != nil {
			progress(before+done, total)
		}
	}
	for i, zs := range r.Specs {
		var z *Zone
		var err error
		if i == 0 {
			z, err = MakeZone(ctx, dir, zs, tell)
		} else {
			z, err = MakeZoneBeside(ctx, dir, zs, r.Zones[0], tell)
		}
		if err != nil {
			return nil, err
		}
		r.Zones = append(r.Zones, z)
		before += zs.Supernodes + zs.Agents + 1
	}
	for i := 1; i < len(r.Zones); i++ { // the public agents know the private zone's supernodes too
		r.Specs[0].ForeignBootstrap = append(r.Specs[0].ForeignBootstrap, r.Specs[i].Bootstrap(r.Zones[i])...)
	}
	for i, zs := range r.Specs {
		objs, err := Build(zs, r.Zones[i])
		if err != nil {
			return nil, err
		}
		r.Objects = append(r.Objects, objs...)
	}
	if err := labelPodSecurity(r.Objects); err != nil {
		return nil, err
	}
	return r, nil
}
