package k8s

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psa "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// The namespace says which Pod Security Standard its pods need
// (pod-security.kubernetes.io/enforce): a cluster that enforces one by
// default (baseline or restricted, as hardened and managed clusters do)
// would otherwise refuse the pods that shape links (NET_ADMIN, NET_RAW)
// at admission, with the Job or StatefulSet left waiting and nothing
// said in the zone's own output. The level is the strictest every
// rendered pod meets, as the Pod Security admission's own checks judge
// it: baseline for a zone that only runs its nodes (agents run dpkg as
// root with a few file capabilities, which baseline allows), privileged
// once a pod shapes or cuts its link.

// podSecurityLevel is the strictest Pod Security Standard level every pod
// template in objs meets.
func podSecurityLevel(objs []Object) (psa.Level, error) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return "", fmt.Errorf("loading the pod security checks: %w", err)
	}
	for _, level := range []psa.Level{psa.LevelRestricted, psa.LevelBaseline} {
		if allMeet(eval, level, objs) {
			return level, nil
		}
	}
	return psa.LevelPrivileged, nil
}

// allMeet reports whether every pod template in objs meets level.
func allMeet(eval policy.Evaluator, level psa.Level, objs []Object) bool {
	lv := psa.LevelVersion{Level: level, Version: psa.LatestVersion()}
	for _, o := range objs {
		meta, spec := podTemplate(o)
		if spec == nil {
			continue
		}
		if !policy.AggregateCheckResults(eval.EvaluatePod(lv, meta, spec)).Allowed {
			return false
		}
	}
	return true
}

// podTemplate is the pod template of a workload object (nil spec for any
// other object).
func podTemplate(o Object) (*metav1.ObjectMeta, *corev1.PodSpec) {
	switch w := o.(type) {
	case *appsv1.StatefulSet:
		return &w.Spec.Template.ObjectMeta, &w.Spec.Template.Spec
	case *appsv1.Deployment:
		return &w.Spec.Template.ObjectMeta, &w.Spec.Template.Spec
	case *batchv1.Job:
		return &w.Spec.Template.ObjectMeta, &w.Spec.Template.Spec
	}
	return nil, nil
}

// labelPodSecurity sets the enforced Pod Security level of the Namespace
// in objs to the strictest its pods meet.
func labelPodSecurity(objs []Object) error {
	level, err := podSecurityLevel(objs)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if ns, ok := o.(*corev1.Namespace); ok {
			ns.Labels[psa.EnforceLevelLabel] = string(level)
		}
	}
	return nil
}
