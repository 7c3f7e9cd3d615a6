package k8s

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/patchnet/patchnet/internal/zonekit"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/node/nodelab"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/trust"
)

// Object is one manifest: a typed Kubernetes object.
type Object interface {
	runtime.Object
	metav1.Object
}

// Build makes the manifests of s's zone z, in apply order: namespace,
// Secrets and ConfigMaps, Services, the vendor origin, supernodes,
// agents, then the publisher Job.
func Build(s Spec, z *Zone) ([]Object, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("checking the spec: %w", err)
	}
	if len(z.Supernodes) != s.Supernodes || len(z.Agents) != s.Agents || (z.PSK != nil) != s.Private {
		return nil, fmt.Errorf("zone material for %d supernodes, %d agents, private %v does not match the spec's %d, %d, %v",
			len(z.Supernodes), len(z.Agents), z.PSK != nil, s.Supernodes, s.Agents, s.Private)
	}
	b := builder{s: s, z: z}
	first := s.Prefix == "" // a zone beside it shares these
	if first {
		b.add(&corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace"), ObjectMeta: metav1.ObjectMeta{Name: s.Namespace, Labels: labels("zone", "")}})
		b.vendorFiles()
	}
	b.zoneFiles()
	if first {
		b.add(s.headless(supernodeService, "supernode"), s.headless(agentService, "agent"))
		b.vendor()
	}
	boot := s.Bootstrap(z)
	for i, id := range z.Supernodes {
		others := append(append([]string{}, boot[:i]...), boot[i+1:]...)
		b.supernode(id, others, s.CutSupernode(i))
	}
	agentBoot := append(slices.Clone(boot), s.ForeignBootstrap...)
	for i, id := range z.Agents {
		b.agent(id, agentBoot, s.Late(i), s.Churn(i), s.CutAgent(i))
	}
	b.publisher(boot)
	if s.Scenario == testnet.ScenarioFlood {
		b.flooder()
	}
	return b.objs, b.err
}

// Bootstrap are the bootstrap multiaddrs of zone z's supernodes.
func (s Spec) Bootstrap(z *Zone) []string {
	var boot []string
	for i, id := range z.Supernodes {
		boot = append(boot, s.SupernodeAddr(i, id.PeerID))
	}
	return boot
}

// builder collects objects and the first error.
type builder struct {
	s    Spec
	z    *Zone
	objs []Object
	err  error
}

func (b *builder) add(objs ...Object) {
	for _, o := range objs {
		o.SetNamespace(b.s.Namespace)
		if _, ok := o.(*corev1.Namespace); ok {
			o.SetNamespace("")
		}
		b.objs = append(b.objs, o)
	}
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// labels are the recommended app.kubernetes.io labels; component is the
// node role (or vendor), instance the object's own name.
func labels(component, instance string) map[string]string {
	l := map[string]string{"app.kubernetes.io/name": "patchnet"}
	if component != "" { // "": every object of the zones (a selector)
		l["app.kubernetes.io/component"] = component
	}
	if instance != "" {
		l["app.kubernetes.io/instance"] = instance
	}
	return l
}

func meta(name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: labels(component, name)}
}

// vendorFiles are the vendor's objects every zone of the namespace
// reads: the packages and the fix's signature, and the vendor key.
func (b *builder) vendorFiles() {
	z := b.z
	b.add(&corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta(debsConfigMap, "vendor"),
		BinaryData: map[string][]byte{z.OldDebName: z.OldDeb, z.NewDebName + ".asc": z.NewDebSig}})
	b.add(&corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta(vendorConfigMap, "vendor"),
		Data: map[string]string{"vendor.asc": string(z.VendorKey)}})
}

// zoneFiles are the zone's own objects its nodes read: the PKI's public
// files, the PSK and each node's key Secret.
func (b *builder) zoneFiles() {
	z := b.z
	pki := map[string]string{"root.crt": string(z.RootCert), "root.crl": string(z.RootCRL), "zone.crl": string(z.ZoneCRL)}
	if z.RevocationCRL != nil {
		pki[revocationCRL] = string(z.RevocationCRL)
	}
	b.add(&corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta(b.s.pkiConfigMap(), "zone"), Data: pki})
	if z.PSK != nil {
		b.add(&corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: meta(b.s.pskSecret(), "zone"),
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"swarm.key": z.PSK}})
	}
	ids := append(append(append([]Identity{}, z.Supernodes...), z.Agents...), z.Publisher)
	for _, id := range ids {
		b.add(&corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: meta(keySecret(id.Name), string(id.Role)),
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"node.key": id.Key, "node.crt": id.Cert}})
	}
}

// headless is the Service giving each pod of component a stable DNS name,
// published before the pods are ready: nodes bootstrap through it.
func (s Spec) headless(name, component string) *corev1.Service {
	return &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: meta(name, component),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true,
			Selector: map[string]string{"app.kubernetes.io/name": "patchnet", "app.kubernetes.io/component": component},
			Ports: []corev1.ServicePort{{Name: "p2p", Port: P2PPort, TargetPort: intstr.FromString("p2p")},
				{Name: "api", Port: APIPort, TargetPort: intstr.FromString("api")}},
		}}
}

// initArgs are a node's `patchnet init` flags inside its pod.
func (s Spec) initArgs(boot []string) InitArgs {
	a := InitArgs{State: StateDir, Roots: []string{pkiDir + "/root.crt"}, CRLs: []string{pkiDir + "/zone.crl", pkiDir + "/root.crl"},
		Zone: s.Zone, Threshold: s.Threshold, Listen: []string{"/ip4/0.0.0.0/tcp/" + itoa(P2PPort)}, Bootstrap: boot}
	if s.Private {
		a.PSKFile = pskFile
	}
	return a
}

// config renders role's config into a ConfigMap named after name.
func (b *builder) config(name string, role trust.Role, args InitArgs) {
	data, err := b.s.Configure(role, args)
	if err == nil {
		err = CheckConfig(data, b.z.PodFiles())
	}
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("rendering %s's config: %w", name, err)
	}
	b.add(&corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta(configMapOf(name), string(role)),
		Data: map[string]string{string(role) + ".toml": string(data)}})
}

// statefulSet is a one-replica StatefulSet: each node mounts only its own
// key Secret, which a shared pod template could not do.
func (s Spec) statefulSet(name, component, svc string, pod corev1.PodSpec) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{TypeMeta: typeMeta("apps/v1", "StatefulSet"), ObjectMeta: meta(name, component),
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr(int32(1)), ServiceName: svc, PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector: &metav1.LabelSelector{MatchLabels: labels(component, name)},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(component, name)}, Spec: pod},
		}}
}

// supernode is supernode id's config, StatefulSet and proxy.
func (b *builder) supernode(id Identity, boot []string, cut bool) {
	s := b.s
	args := s.initArgs(boot)
	args.VendorOrigins, args.VendorKeys = []string{s.OriginURL()}, []string{vendorDir + "/vendor.asc"}
	b.config(id.Name, trust.RoleSupernode, args)
	node := s.nodeContainer([]string{"supernode", "--config", configDir + "/supernode.toml"},
		s.nodeMounts(corev1.VolumeMount{Name: "config", MountPath: configDir, ReadOnly: true},
			corev1.VolumeMount{Name: "vendor", MountPath: vendorDir, ReadOnly: true}))
	sidecars := []corev1.Container{node, s.proxyContainer()}
	if s.RunsHTTPBaseline() {
		sidecars = append(sidecars, b.rawContainer(id.Name, true))
	}
	pod := podSpec(false, []corev1.Container{s.prepareContainer(false, "")}, sidecars,
		s.nodeVolumes(id.Name, configMapVolume("config", configMapOf(id.Name)), configMapVolume("vendor", vendorConfigMap)))
	if cut {
		pod = s.cutOff(pod)
	}
	// The supernodes apart from each other first: their independent
	// checks, each with its own uplink, are what a zone across machines
	// has to show.
	pod.TopologySpreadConstraints = append(pod.TopologySpreadConstraints, spreadOver(labels("supernode", "")))
	b.add(s.statefulSet(id.Name, "supernode", supernodeService, s.shaped(pod, false)))
}

// agent is agent id's StatefulSet. Its config is written in the pod by
// `patchnet init agent`, which pins the image's own dpkg and the
// sandbox's /bin/sh: render cannot know their digests.
func (b *builder) agent(id Identity, boot []string, late bool, churn string, cut bool) {
	s := b.s
	args := s.initArgs(boot)
	args.Sysroot = sysrootDir
	conf := runDir + "/agent.toml"
	initC := s.container("config", args.Flags(trust.RoleAgent, conf), s.nodeMounts(corev1.VolumeMount{Name: "run", MountPath: runDir}))
	run := []string{"agent", "--config", conf}
	if churn != "" {
		// SIGKILLed as the fix reaches it (restarted, or left down), by a
		// wrapper in its own container: nothing here talks to the cluster.
		run = append([]string{"testnet", "crash", "--state", StateDir, "--update-id", s.UpdateID, "--then", churn, "--"}, run...)
	}
	node := s.nodeContainer(run, s.nodeMounts(corev1.VolumeMount{Name: "run", MountPath: runDir, ReadOnly: true}), dpkgCaps...)
	if churn != "" {
		node.LivenessProbe = nil // a node left down must not be restarted by the kubelet
	}
	sidecars := []corev1.Container{node, s.proxyContainer()}
	if s.RunsHTTPBaseline() {
		sidecars = append(sidecars, b.baselineContainer(id.Name), b.rawContainer(id.Name, false))
	}
	steps := []corev1.Container{s.prepareContainer(true, b.z.OldDebName), initC}
	if late {
		steps = append([]corev1.Container{s.lateContainer()}, steps...)
	}
	pod := podSpec(true, steps, sidecars,
		s.nodeVolumes(id.Name, corev1.Volume{Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			configMapVolume("debs", debsConfigMap)))
	if cut {
		pod = s.cutOff(pod)
	}
	b.add(s.statefulSet(id.Name, "agent", agentService, s.shaped(pod, false)))
}

// vendor is the vendor origin: the same binary serving the fix it
// rebuilt and the packages and the fix's signature from the debs
// ConfigMap, counting what it serves for collect.
func (b *builder) vendor() {
	s := b.s
	args := []string{"testnet", "serve-origin", "--dir", fixDir, "--dir", debsDir, "--listen", ":" + itoa(OriginPort)}
	if s.RunsHTTPBaseline() {
		args = append(args, "--baseline-clients", itoa(s.Agents), "--baseline-wait", s.baselineWait().String(),
			"--raw-peers", itoa(s.Agents+s.Supernodes))
	}
	c := s.container("origin", args,
		[]corev1.VolumeMount{{Name: "fix", MountPath: fixDir, ReadOnly: true}, {Name: "debs", MountPath: debsDir, ReadOnly: true}})
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: OriginPort, Protocol: corev1.ProtocolTCP}}
	// Not the fix itself: every probe would count as origin egress.
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: OriginServedPath, Port: intstr.FromString("http")}},
		PeriodSeconds: 5}
	pod := s.shaped(podSpec(false, []corev1.Container{b.buildFixContainer()}, []corev1.Container{c},
		[]corev1.Volume{configMapVolume("debs", debsConfigMap), fixVolume()}), true)
	b.add(&appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: meta(vendorName, "vendor"),
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels("vendor", vendorName)},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("vendor", vendorName)}, Spec: pod}}})
	b.add(&corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: meta(vendorName, "vendor"),
		Spec: corev1.ServiceSpec{Selector: labels("vendor", vendorName),
			Ports: []corev1.ServicePort{{Name: "http", Port: OriginPort, TargetPort: intstr.FromString("http")}}}})
}

// baselineContainer is agent name's part of the HTTP baseline: once its
// node installed the fix, `patchnet testnet http-baseline` registers at
// the vendor origin's barrier, downloads the fix with everyone else when
// released, and posts its time; then it idles (a container that exits is
// started again), a marker in the state volume keeping a restarted one
// from downloading twice.
func (b *builder) baselineContainer(name string) corev1.Container {
	s, z := b.s, b.z
	args := []string{"testnet", "http-baseline", "--origin", s.OriginURL(), "--name", name, "--file", z.NewDebName,
		"--sha256", hex.EncodeToString(z.NewDebSHA256[:]), "--size", strconv.FormatInt(z.NewDebSize, 10),
		"--state", StateDir, "--update-id", s.UpdateID, "--marker", baselineMarker,
		"--timeout", (s.baselineWait() + BaselineWait).String()}
	c := s.container("http-baseline", args, []corev1.VolumeMount{{Name: "data", MountPath: dataDir}})
	c.Resources = helperResources()
	return c
}

// baselineMarker, in an agent pod's data volume, says its HTTP baseline
// download was done and reported.
const baselineMarker = dataDir + "/.testnet-baseline"

// rawContainer is a supernode's or agent's part of the raw gossipsub
// baseline: `patchnet testnet raw-baseline` starts a plain gossipsub
// peer, registers it at the vendor origin once its agent installed the
// fix (a supernode's once its node answers), connects it as its node is
// connected and reports while the origin publishes; then it idles, a
// marker in the state volume keeping a restarted one from running twice.
func (b *builder) rawContainer(name string, supernode bool) corev1.Container {
	s := b.s
	args := []string{"testnet", "raw-baseline", "--origin", s.OriginURL(), "--name", name, "--state", StateDir,
		"--marker", rawMarker, "--timeout", (s.baselineWait() + BaselineWait + RawWait + RawTimeout).String()}
	if supernode {
		args = append(args, "--supernode")
	} else {
		args = append(args, "--update-id", s.UpdateID)
	}
	c := s.container("raw-baseline", args, []corev1.VolumeMount{{Name: "data", MountPath: dataDir}})
	c.Resources = helperResources()
	return c
}

// rawMarker, in a pod's data volume, says its raw baseline ran.
const rawMarker = dataDir + "/.testnet-raw-baseline"

// publisher is the publisher's config and the Job that authors the fix
// with `patchnet update new` and publishes it with `patchnet publish`,
// waiting for k co-signatures; a failed try is retried in a fresh pod.
func (b *builder) publisher(boot []string) {
	s, z := b.s, b.z
	b.config(s.publisherName(), trust.RolePublisher, s.initArgs(boot))
	fix := runDir + "/fix.json"
	u := zonekit.Update{ID: s.UpdateID, Summary: nodelab.PackageName + ": the testnet's fix",
		Ecosystem: "Debian:12", Package: nodelab.PackageName, Fixed: nodelab.NewVersion,
		Artifact: fixDir + "/" + z.NewDebName, Method: "dpkg", URL: s.OriginURL() + z.NewDebName, RolloutSpread: s.RolloutSpread}
	fixMount := corev1.VolumeMount{Name: "fix", MountPath: fixDir, ReadOnly: true}
	author := s.container("author", u.Args(fix), []corev1.VolumeMount{{Name: "run", MountPath: runDir}, fixMount})
	publish := s.container("publish", []string{"publish", fix, "--artifact", fixDir + "/" + z.NewDebName,
		"--config", configDir + "/publisher.toml", "--wait", "5m"},
		s.nodeMounts(corev1.VolumeMount{Name: "run", MountPath: runDir, ReadOnly: true}, fixMount,
			corev1.VolumeMount{Name: "config", MountPath: configDir, ReadOnly: true}))
	steps := []corev1.Container{s.prepareContainer(false, ""), b.buildFixContainer(), author}
	volumes := s.nodeVolumes(s.publisherName(), corev1.Volume{Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		configMapVolume("debs", debsConfigMap), configMapVolume("config", configMapOf(s.publisherName())), fixVolume())
	switch s.Scenario {
	case testnet.ScenarioStolenKey:
		steps = append(steps, b.thief()...)
	case testnet.ScenarioRevocation:
		steps = append(steps, b.revocation()...)
	case testnet.ScenarioPartition:
		steps = append(steps, b.partitionWait())
	case testnet.ScenarioByzantine:
		steps = append(steps, b.byzantine()...)
		volumes = append(volumes, corev1.Volume{Name: "byzantine-key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: keySecret(b.byzantineName()), DefaultMode: ptr(int32(keyMode))}}})
	}
	pod := s.shaped(podSpec(false, steps, []corev1.Container{publish}, volumes), true)
	pod.RestartPolicy = corev1.RestartPolicyNever
	b.add(&batchv1.Job{TypeMeta: typeMeta("batch/v1", "Job"), ObjectMeta: meta(s.publisherName(), "publisher"),
		Spec: batchv1.JobSpec{BackoffLimit: ptr(int32(4)),
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("publisher", s.publisherName())}, Spec: pod}}})
}

// thief is the stolen-key scenario's attack, run in the publisher's pod
// before the fix goes out: with the publisher's own key and config, the
// old package is announced as the fix at the fix's URL on the vendor's
// origin (where a thief cannot put bytes of its own); `patchnet testnet
// steal` succeeds only when the supernodes refuse to co-sign it.
func (b *builder) thief() []corev1.Container {
	s, z := b.s, b.z
	stolen := runDir + "/stolen.json"
	u := zonekit.Update{ID: StolenUpdateID, Summary: nodelab.PackageName + ": the thief's update",
		Ecosystem: "Debian:12", Package: nodelab.PackageName, Fixed: nodelab.NewVersion,
		Artifact: debsDir + "/" + z.OldDebName, Method: "dpkg", URL: s.OriginURL() + z.NewDebName}
	author := s.container("thief-author", u.Args(stolen),
		[]corev1.VolumeMount{{Name: "run", MountPath: runDir}, {Name: "debs", MountPath: debsDir, ReadOnly: true}})
	steal := s.container("thief", []string{"testnet", "steal", stolen, "--artifact", debsDir + "/" + z.OldDebName,
		"--config", configDir + "/publisher.toml", "--wait", "5m"},
		s.nodeMounts(corev1.VolumeMount{Name: "run", MountPath: runDir, ReadOnly: true},
			corev1.VolumeMount{Name: "debs", MountPath: debsDir, ReadOnly: true},
			corev1.VolumeMount{Name: "config", MountPath: configDir, ReadOnly: true}))
	return []corev1.Container{author, steal}
}

// lateContainer holds a late-join agent's pod back until every
// supernode's status shows the fix co-signed: it was announced while the
// agent was not there, and the agent must catch up.
func (s Spec) lateContainer() corev1.Container {
	args := []string{"testnet", "wait", "--update-id", s.UpdateID, "--event", string(node.EventCoSigned), "--timeout", "30m"}
	for i := range s.Supernodes {
		args = append(args, "--endpoint", s.SupernodeAPI(i))
	}
	return s.container("wait-for-fix", args, nil)
}

// byzantineName is the supernode the byzantine scenario takes over: the
// last one.
func (b *builder) byzantineName() string { return b.s.supernodeName(b.s.Supernodes - 1) }

// byzantine is the byzantine scenario's attack, run in the publisher's pod
// before the fix goes out, as one holding the publisher's key and the
// last supernode's: a conflicting payload of the fix (the old package at
// the fix's URL) signed by both and gossiped on the announce topic as it
// is; then it waits until every agent holds it pending (one co-signature,
// below k). The supernode's daemon runs on: it co-signs the real fix too,
// and every agent must catch it co-signing both and install the fix on
// the others' co-signatures.
func (b *builder) byzantine() []corev1.Container {
	s, z := b.s, b.z
	payload, env, key := runDir+"/byzantine.json", runDir+"/byzantine.dsse", runDir+"/byzantine-key"
	u := zonekit.Update{ID: s.UpdateID, Summary: "the byzantine supernode's payload",
		Ecosystem: "Debian:12", Package: nodelab.PackageName, Fixed: nodelab.NewVersion,
		Artifact: debsDir + "/" + z.OldDebName, Method: "dpkg", URL: s.OriginURL() + z.NewDebName}
	run := corev1.VolumeMount{Name: "run", MountPath: runDir}
	debs := corev1.VolumeMount{Name: "debs", MountPath: debsDir, ReadOnly: true}
	sign := func(name, keyDir, in string) corev1.Container {
		return s.container(name, []string{"update", "sign", "--key", keyDir + "/node.key", "--cert", keyDir + "/node.crt", in, "--out", env},
			s.nodeMounts(run))
	}
	wait := []string{"testnet", "wait", "--update-id", s.UpdateID, "--event", string(node.EventPending), "--timeout", "10m"}
	for i := range s.Agents {
		wait = append(wait, "--endpoint", s.AgentAPI(i))
	}
	return []corev1.Container{
		s.container("byzantine-author", u.Args(payload), []corev1.VolumeMount{run, debs}),
		s.container("byzantine-key", []string{"testnet", "prepare", "--key-dir", byzantineKeyDir, "--state", key},
			[]corev1.VolumeMount{run, {Name: "byzantine-key", MountPath: byzantineKeyDir, ReadOnly: true}}),
		sign("byzantine-sign-publisher", StateDir, payload),
		sign("byzantine-sign-supernode", key, env),
		s.container("byzantine-gossip", []string{"testnet", "gossip", env, "--config", configDir + "/publisher.toml"},
			s.nodeMounts(run, corev1.VolumeMount{Name: "config", MountPath: configDir, ReadOnly: true})),
		s.container("wait-pending", wait, nil),
	}
}

// revocation is the revocation scenario's step before the fix goes out:
// the CRL render issued, revoking the last supernode, sent into the zone
// with `patchnet publish --crl` (the daemons read CRL files only at
// start, so each must apply it from gossip), then a wait until every
// node but the revoked one applied a CRL: its peers drop it as they
// apply the CRL, and it may be cut off before the CRL reaches it.
func (b *builder) revocation() []corev1.Container {
	s := b.s
	send := s.container("revoke", []string{"publish", "--crl", pkiDir + "/" + revocationCRL, "--config", configDir + "/publisher.toml"},
		s.nodeMounts(corev1.VolumeMount{Name: "config", MountPath: configDir, ReadOnly: true}))
	wait := []string{"testnet", "wait", "--event", string(node.EventCRL), "--timeout", "10m"}
	for i := range s.Supernodes - 1 {
		wait = append(wait, "--endpoint", s.SupernodeAPI(i))
	}
	for i := range s.Agents {
		wait = append(wait, "--endpoint", s.AgentAPI(i))
	}
	return []corev1.Container{send, s.container("wait-crl", wait, nil)}
}

// partitionWait holds the partition scenario's fix back until every cut
// agent raised its heartbeat alarm: it hears fewer than k supernodes, so
// the cut is in place, as netns waits before it publishes.
func (b *builder) partitionWait() corev1.Container {
	s := b.s
	wait := []string{"testnet", "wait", "--event", string(node.EventHeartbeatStale), "--timeout", (s.PartitionHold + 10*time.Minute).String()}
	for i := range s.Agents {
		if s.CutAgent(i) {
			wait = append(wait, "--endpoint", s.AgentAPI(i))
		}
	}
	return s.container("wait-cut", wait, nil)
}

// flooder is the flood scenario's attacker: a Job running `patchnet
// testnet flood`, two libp2p peers outside the zone's PKI that join its
// announce topic next to the flood targets, forge announcements from the
// start and replay the fix in every shape that adds nothing once it
// comes. It keeps its connections until the namespace goes: a target
// that no longer lists a flooder among its peers dropped it.
func (b *builder) flooder() {
	s := b.s
	args := []string{"testnet", "flood", "--zone", s.Zone, "--listen", "/ip4/0.0.0.0/tcp/0", "--wait", "10m"}
	for i, id := range b.z.Agents {
		if s.FloodTarget(i) {
			args = append(args, "--peer", s.AgentAddr(i, id.PeerID))
		}
	}
	pod := podSpec(false, nil, []corev1.Container{s.container("flood", args, nil)}, nil)
	pod.RestartPolicy = corev1.RestartPolicyNever
	b.add(&batchv1.Job{TypeMeta: typeMeta("batch/v1", "Job"), ObjectMeta: meta(flooderName, "flooder"),
		Spec: batchv1.JobSpec{BackoffLimit: ptr(int32(0)),
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("flooder", flooderName)}, Spec: pod}}})
}

func itoa(i int) string { return strconv.Itoa(i) }
