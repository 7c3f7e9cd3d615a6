package k8s

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// dpkgCaps are what dpkg needs as root in the agent's sandbox: owning and
// moving files it unpacks and chrooting maintainer scripts into the
// sysroot. Every other capability is dropped.
var dpkgCaps = []corev1.Capability{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SYS_CHROOT"}

// podSecurity is the pod-wide security context. Nodes other than agents
// run as nonRootUID; fsGroup lets them read their Secret (mode 0440),
// whose key `testnet prepare` copies 0600 into the state directory, as
// the node's key check demands. Agents run as root because dpkg does.
func podSecurity(root bool) *corev1.PodSecurityContext {
	sc := &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if root { // said outright: the image's USER is nonroot
		sc.RunAsNonRoot, sc.RunAsUser, sc.RunAsGroup = ptr(false), ptr(int64(0)), ptr(int64(0))
		return sc
	}
	uid := int64(nonRootUID)
	sc.RunAsNonRoot, sc.RunAsUser, sc.RunAsGroup, sc.FSGroup = ptr(true), &uid, &uid, &uid
	return sc
}

// containerSecurity drops every capability but add, forbids privilege
// escalation and keeps the image read-only: writes go to emptyDirs.
func containerSecurity(add ...corev1.Capability) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		ReadOnlyRootFilesystem:   ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: add},
	}
}

// resources are a patchnet container's modest requests, a node's or a
// step's: a settled node uses a few millicores, so a pod (whose request
// is the sum of its containers') asks for little and hundreds fit a
// small cluster; a memory limit stops one runaway node. A scheduler
// counts requests, not use: at 50m a container, an agent pod of four
// asked for 200m, and a 2-core node took ten agents.
func resources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("25m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
}

// helperResources are a sidecar's beside the node (the API proxy, the
// HTTP baseline's client, the shaping and cut containers): idle but for
// moments, and small.
func helperResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("5m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
}

// container is a patchnet container of s's image running args.
func (s Spec) container(name string, args []string, mounts []corev1.VolumeMount, add ...corev1.Capability) corev1.Container {
	return corev1.Container{
		Name: name, Image: s.Image, ImagePullPolicy: corev1.PullIfNotPresent,
		Args: args, VolumeMounts: mounts, Resources: resources(), SecurityContext: containerSecurity(add...),
	}
}

// nodeContainer runs the node daemon (role agent or supernode) with a
// TCP probe on its libp2p port.
func (s Spec) nodeContainer(args []string, mounts []corev1.VolumeMount, add ...corev1.Capability) corev1.Container {
	c := s.container("node", args, mounts, add...)
	c.Ports = []corev1.ContainerPort{{Name: "p2p", ContainerPort: P2PPort, Protocol: corev1.ProtocolTCP}}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("p2p")}},
		PeriodSeconds: 10, FailureThreshold: 6}
	c.ReadinessProbe, c.LivenessProbe = probe, probe.DeepCopy()
	c.LivenessProbe.InitialDelaySeconds = 30
	return c
}

// proxyContainer serves the node's read-only API (status, history) on
// APIPort for collect; it is ready once the node's API answers.
func (s Spec) proxyContainer() corev1.Container {
	c := s.container("api-proxy", []string{"testnet", "api-proxy", "--state", StateDir, "--listen", ":" + itoa(APIPort)},
		[]corev1.VolumeMount{{Name: "data", MountPath: dataDir}})
	c.Ports = []corev1.ContainerPort{{Name: "api", ContainerPort: APIPort, Protocol: corev1.ProtocolTCP}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/v1/status", Port: intstr.FromString("api")}},
		PeriodSeconds: 5, FailureThreshold: 3}
	c.Resources = helperResources()
	return c
}

// prepareContainer copies the node's key and certificate from its Secret
// into the state directory (key 0600) and, for an agent, makes the
// sandbox sysroot with the old package installed by dpkg.
func (s Spec) prepareContainer(agent bool, oldDeb string) corev1.Container {
	args := []string{"testnet", "prepare", "--key-dir", keyDir, "--state", StateDir}
	mounts := []corev1.VolumeMount{{Name: "data", MountPath: dataDir}, {Name: "key", MountPath: keyDir, ReadOnly: true}}
	var caps []corev1.Capability
	if agent {
		args = append(args, "--sysroot", sysrootDir, "--deb", debsDir+"/"+oldDeb)
		mounts = append(mounts, corev1.VolumeMount{Name: "debs", MountPath: debsDir, ReadOnly: true},
			corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
		caps = dpkgCaps
	}
	return s.container("prepare", args, mounts, caps...)
}

// buildFixContainer rebuilds the fix render signed into the fix
// emptyDir (a ConfigMap holds at most 1 MiB) and stops the pod unless it
// has render's digest: an image of another patchnet build makes other
// bytes.
func (b *builder) buildFixContainer() corev1.Container {
	sum := b.z.NewDebSHA256
	c := b.s.container("build-fix", []string{"testnet", "build-fix", "--out", fixDir,
		"--padding", strconv.FormatInt(b.s.ArtifactBytes, 10), "--sha256", hex.EncodeToString(sum[:])},
		[]corev1.VolumeMount{{Name: "fix", MountPath: fixDir}})
	return c
}

// fixVolume holds the rebuilt fix.
func fixVolume() corev1.Volume {
	return corev1.Volume{Name: "fix", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

// shaped is pod with its link shaped as s.Shaping says (an origin's at
// OriginBandwidth), before anything else runs in it: `patchnet testnet
// shape` as the first init container, or with a latency or jitter as a sidecar (an
// init container that keeps running, delaying packets, beside the pod's
// own). It runs as root with CAP_NET_ADMIN (tc, iptables), iptables'
// lock file in an emptyDir of its own. The pod is unchanged when nothing
// is shaped.
func (s Spec) shaped(pod corev1.PodSpec, origin bool) corev1.PodSpec {
	sh := s.Shaping
	if !sh.On() {
		return pod
	}
	rate := sh.Bandwidth
	if origin && sh.OriginBandwidth > 0 {
		rate = sh.OriginBandwidth
	}
	args := []string{"testnet", "shape", "--dev", "eth0", "--bandwidth", fmt.Sprintf("%dB", rate),
		"--loss", strconv.FormatFloat(sh.Loss, 'f', -1, 64), "--latency", sh.Latency.String()}
	if sh.Jitter > 0 {
		args = append(args, "--jitter", sh.Jitter.String())
	}
	c := s.netAdminContainer("shape", args)
	if sh.Latency > 0 || sh.Jitter > 0 {
		c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	}
	return withNetAdmin(pod, c)
}

// netAdminContainer runs args as root with CAP_NET_ADMIN and CAP_NET_RAW
// in effect (tc, iptables; capabilities added to a non-root container are
// not), iptables' lock file in an emptyDir of its own, plus mounts.
func (s Spec) netAdminContainer(name string, args []string, mounts ...corev1.VolumeMount) corev1.Container {
	c := s.container(name, args, append([]corev1.VolumeMount{{Name: "xtables", MountPath: xtablesDir}}, mounts...), "NET_ADMIN", "NET_RAW")
	c.Resources = helperResources()
	c.Env = []corev1.EnvVar{{Name: "XTABLES_LOCKFILE", Value: xtablesDir + "/xtables.lock"}}
	c.SecurityContext.RunAsUser, c.SecurityContext.RunAsNonRoot = ptr(int64(0)), ptr(false)
	return c
}

// withNetAdmin is pod with c as its first init container and the volume
// netAdminContainer mounts.
func withNetAdmin(pod corev1.PodSpec, c corev1.Container) corev1.PodSpec {
	pod.InitContainers = append([]corev1.Container{c}, pod.InitContainers...)
	if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == "xtables" }) {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "xtables", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	return pod
}

// The partition scenario's files in a cut pod's data volume: the cut is
// in place, and it was healed (a restarted container cuts no more).
const (
	cutReady  = dataDir + "/.testnet-cut"
	cutHealed = dataDir + "/.testnet-healed"
)

// cutOff is pod on the partition scenario's cut side: `patchnet testnet
// cut` as a sidecar that keeps the cut side's pods (by DNS name; they
// resolve as they come up), the API proxy's port open, and heals after
// PartitionHold. Its startup probe holds the pod's other containers
// until the cut is in place (or was healed): the node must not meet the
// connected side first.
func (s Spec) cutOff(pod corev1.PodSpec) corev1.PodSpec {
	args := []string{"testnet", "cut", "--open", itoa(APIPort), "--hold", s.PartitionHold.String(), "--marker", cutHealed, "--ready", cutReady}
	for i := range s.Supernodes {
		if s.CutSupernode(i) {
			args = append(args, "--keep", s.podHost(s.supernodeName(i), supernodeService))
		}
	}
	for i := range s.Agents {
		if s.CutAgent(i) {
			args = append(args, "--keep", s.podHost(s.agentName(i), agentService))
		}
	}
	c := s.netAdminContainer("cut", args, corev1.VolumeMount{Name: "data", MountPath: dataDir})
	c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
		Command: []string{"/bin/sh", "-c", "test -e " + cutReady + " || test -e " + cutHealed}}},
		PeriodSeconds: 2, FailureThreshold: 600} // its peers' pods may take minutes to get addresses
	pod.Containers = slices.Clone(pod.Containers)
	for i := range pod.Containers {
		switch c := &pod.Containers[i]; c.Name {
		case "node":
			// The kubelet's probes of the libp2p port are cut off too: a
			// liveness probe would restart the node all through the cut.
			c.LivenessProbe = nil
		case "api-proxy": // when the cut healed, for collect
			c.Args = append(slices.Clone(c.Args), "--cut-ready", cutReady, "--cut-healed", cutHealed)
		}
	}
	return withNetAdmin(pod, c)
}

// keyMode is the node Secret's file mode: readable by the pod's fsGroup
// for `testnet prepare` to copy, never by others.
const keyMode = 0o440

// nodeVolumes are the volumes of every node pod: its state (emptyDir),
// scratch space, its own key Secret, the PKI and the PSK of a private
// zone, plus extra.
func (s Spec) nodeVolumes(name string, extra ...corev1.Volume) []corev1.Volume {
	v := []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: keySecret(name), DefaultMode: ptr(int32(keyMode))}}},
		configMapVolume("pki", s.pkiConfigMap()),
	}
	if s.Private {
		v = append(v, corev1.Volume{Name: "psk", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: s.pskSecret(), DefaultMode: ptr(int32(keyMode))}}})
	}
	return append(v, extra...)
}

// nodeMounts are where the node container finds nodeVolumes.
func (s Spec) nodeMounts(extra ...corev1.VolumeMount) []corev1.VolumeMount {
	m := []corev1.VolumeMount{
		{Name: "data", MountPath: dataDir}, {Name: "tmp", MountPath: "/tmp"},
		{Name: "pki", MountPath: pkiDir, ReadOnly: true},
	}
	if s.Private {
		m = append(m, corev1.VolumeMount{Name: "psk", MountPath: pskDir, ReadOnly: true})
	}
	return append(m, extra...)
}

func configMapVolume(name, cm string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}
}

// podSpec is a node pod: no service account token (nothing here talks
// to the API server), no service-link environment.
func podSpec(root bool, init []corev1.Container, containers []corev1.Container, volumes []corev1.Volume) corev1.PodSpec {
	return corev1.PodSpec{
		AutomountServiceAccountToken: ptr(false),
		EnableServiceLinks:           ptr(false),
		SecurityContext:              podSecurity(root),
		InitContainers:               init,
		Containers:                   containers,
		Volumes:                      volumes,
		TopologySpreadConstraints:    []corev1.TopologySpreadConstraint{spreadOver(labels("", ""))},
	}
}

// spreadOver spreads the pods sel selects over the cluster's machines,
// as evenly as the scheduler can (maxSkew 1 by hostname): the test is of
// a zone across machines, and every node is its own one-replica
// StatefulSet, which the scheduler's default spreading (per owner) does
// not spread. ScheduleAnyway: a one-node cluster, or a full machine,
// still runs the pod.
func spreadOver(sel map[string]string) corev1.TopologySpreadConstraint {
	return corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
		WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: sel}}
}

func ptr[T any](v T) *T { return &v }
