package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/google/go-cmp/cmp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/testnet"
	"github.com/patchnet/patchnet/testnet/k8s"
	"github.com/patchnet/patchnet/trust"
	"github.com/patchnet/patchnet/trust/ca"
	"github.com/patchnet/patchnet/updates"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// runTestnetSubCmd runs a fresh `patchnet testnet SUB args…`.
func runTestnetSubCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	parent := findCommand(rootCmd, "testnet")
	sub := findCommand(parent, args[0])
	if sub == nil {
		t.Fatalf("no testnet %s command", args[0])
	}
	var fresh = map[string]func() *cobra.Command{"render": newTestnetRenderCmd, "collect": newTestnetCollectCmd}[args[0]]
	cmd := fresh()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args[1:])
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// rendered is a decoded manifest stream, indexed.
type rendered struct {
	objs       []k8s.Object
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	services   map[string]*corev1.Service
	sets       map[string]*appsv1.StatefulSet
	job        *batchv1.Job   // the publisher's
	jobs       []*batchv1.Job // every zone's publisher's, job first
	flooder    *batchv1.Job   // the flood scenario's
	deploy     *appsv1.Deployment
}

// podTemplates are every workload's pod template, by the workload's name.
func (r *rendered) podTemplates() map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for name, set := range r.sets {
		out[name] = set.Spec.Template
	}
	for _, j := range append(slices.Clone(r.jobs), r.flooder) {
		if j != nil {
			out[j.Name] = j.Spec.Template
		}
	}
	if r.deploy != nil {
		out[r.deploy.Name] = r.deploy.Spec.Template
	}
	return out
}

func decodeRendered(t *testing.T, data []byte) *rendered {
	t.Helper()
	objs, err := k8s.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	again, err := k8s.Encode(objs)
	if err != nil {
		t.Fatal(err)
	}
	objs2, err := k8s.Decode(again)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(objs, objs2); d != "" || !bytes.Equal(data, again) {
		t.Fatalf("manifests do not round-trip (-first +second):\n%s", d)
	}
	r := &rendered{objs: objs, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		services: map[string]*corev1.Service{}, sets: map[string]*appsv1.StatefulSet{}}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			r.configMaps[o.Name] = o
		case *corev1.Secret:
			r.secrets[o.Name] = o
		case *corev1.Service:
			r.services[o.Name] = o
		case *appsv1.StatefulSet:
			r.sets[o.Name] = o
		case *batchv1.Job:
			switch o.Name {
			case "flooder":
				r.flooder = o
			case "publisher":
				r.job = o
				r.jobs = append([]*batchv1.Job{o}, r.jobs...)
			default:
				r.jobs = append(r.jobs, o)
			}
		case *appsv1.Deployment:
			r.deploy = o
		}
	}
	return r
}

// podFiles writes what container c of pod mounts from ConfigMaps and
// Secrets under root, at its paths in the pod.
func (r *rendered) podFiles(t *testing.T, root string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			t.Fatalf("container %s mounts volume %s the pod lacks", c.Name, m.Name)
		}
		files := map[string][]byte{}
		switch v := pod.Volumes[i]; {
		case v.ConfigMap != nil:
			cm := r.configMaps[v.ConfigMap.Name]
			for k, s := range cm.Data {
				files[k] = []byte(s)
			}
			for k, b := range cm.BinaryData {
				files[k] = b
			}
		case v.Secret != nil:
			files = r.secrets[v.Secret.SecretName].Data
		default:
			os.MkdirAll(filepath.Join(root, m.MountPath), 0o700)
		}
		for k, b := range files {
			p := filepath.Join(root, m.MountPath, k)
			os.MkdirAll(filepath.Dir(p), 0o700)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// container is pod's container (or init container) called name.
func container(t *testing.T, pod corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("pod has no container %s", name)
	return corev1.Container{}
}

// A small private zone rendered for Kubernetes: the YAML round-trips
// through the typed objects; every supernode, agent and the publisher has
// its own one-replica StatefulSet (or the Job) mounting only its own key;
// certificates verify against the rendered root as an agent verifies them
// and with openssl; bootstrap addresses are the supernodes' DNS names and
// the peer IDs of their keys; the supernodes' and publisher's configs load
// with the daemon's loader and validate over the files their pods mount,
// and the agents' `patchnet init agent` writes a valid config from them;
// the vendor's signature verifies; ports, probes and security contexts
// are consistent.
func TestTestnetRenderK8s(t *testing.T) {
	out := filepath.Join(t.TempDir(), "zone.yaml")
	if msg, err := runTestnetSubCmd(t, "render", "--k8s", "--nodes", "3", "--supernodes", "3", "--threshold", "2", "--private",
		"--namespace", "tn", "--image", "patchnet:test", "--out", out); err != nil {
		t.Fatalf("render: %v\n%s", err, msg)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("manifests file: %v, mode %v; want 0600 (it holds keys)", err, fi.Mode())
	}
	data, _ := os.ReadFile(out)
	r := decodeRendered(t, data)
	if len(r.sets) != 6 || r.job == nil || r.deploy == nil || len(r.services) != 3 || len(r.secrets) != 3+3+1+1 {
		t.Fatalf("rendered %d StatefulSets, job %v, deployment %v, %d Services, %d Secrets; want 6, 1, 1, 3, 8",
			len(r.sets), r.job != nil, r.deploy != nil, len(r.services), len(r.secrets))
	}
	for _, o := range r.objs {
		if _, ns := o.(*corev1.Namespace); !ns && o.GetNamespace() != "tn" {
			t.Errorf("%s is in namespace %q, want tn", o.GetName(), o.GetNamespace())
		}
	}
	dir := t.TempDir()
	pki := r.configMaps["pki"].Data
	for _, f := range []string{"root.crt", "root.crl", "zone.crl"} {
		os.WriteFile(filepath.Join(dir, f), []byte(pki[f]), 0o644)
	}
	peers := map[string]string{} // supernode DNS name → peer ID its certificate names
	for _, name := range []string{"supernode-0", "supernode-1", "supernode-2", "agent-0", "agent-1", "agent-2", "publisher"} {
		id := checkIdentity(t, r, dir, name)
		if strings.HasPrefix(name, "supernode-") {
			peers[name+"-0.supernodes.tn.svc.cluster.local"] = id.PeerID.String()
		}
	}
	for name, set := range r.sets {
		checkPod(t, r, name, set.Spec.Template.Spec, strings.HasPrefix(name, "agent-"))
		checkSpread(t, name, set.Spec.Template.Spec, strings.HasPrefix(name, "supernode-"))
		if *set.Spec.Replicas != 1 || set.Spec.ServiceName != map[bool]string{true: "agents", false: "supernodes"}[strings.HasPrefix(name, "agent-")] {
			t.Errorf("%s: replicas %d behind %s", name, *set.Spec.Replicas, set.Spec.ServiceName)
		}
	}
	checkPod(t, r, "publisher", r.job.Spec.Template.Spec, false)
	checkPodSecurity(t, r, psaapi.LevelBaseline)
	checkSpread(t, "publisher", r.job.Spec.Template.Spec, false)
	checkSpread(t, "vendor", r.deploy.Spec.Template.Spec, false)
	for _, svc := range []string{"supernodes", "agents"} {
		if s := r.services[svc].Spec; s.ClusterIP != corev1.ClusterIPNone || !s.PublishNotReadyAddresses {
			t.Errorf("service %s: cluster IP %q, publishNotReady %v; want headless, published before ready", svc, s.ClusterIP, s.PublishNotReadyAddresses)
		}
	}
	for i := range 3 {
		name := "supernode-" + string(rune('0'+i))
		cfg := loadPodConfig(t, r, r.sets[name].Spec.Template.Spec, "node", "supernode.toml")
		wantBoot(t, name, cfg.Overlay.BootstrapPeers, peers, 2)
	}
	wantBoot(t, "publisher", loadPodConfig(t, r, r.job.Spec.Template.Spec, "publish", "publisher.toml").Overlay.BootstrapPeers, peers, 3)
	for i := range 3 {
		name := "agent-" + string(rune('0'+i))
		wantBoot(t, name, agentInitConfig(t, r, r.sets[name].Spec.Template.Spec).Overlay.BootstrapPeers, peers, 3)
	}
	checkVendor(t, r)
}

// checkPodSecurity checks that the rendered Namespace enforces the Pod
// Security level want, and that Pod Security admission's own checks admit
// every rendered pod at that level (and, below privileged, refuse none
// that a stricter level would have admitted: want is the strictest).
func checkPodSecurity(t *testing.T, r *rendered, want psaapi.Level) {
	t.Helper()
	var ns *corev1.Namespace
	for _, o := range r.objs {
		if n, ok := o.(*corev1.Namespace); ok {
			ns = n
		}
	}
	if ns == nil || ns.Labels[psaapi.EnforceLevelLabel] != string(want) {
		t.Fatalf("namespace %v: want %s=%s", ns, psaapi.EnforceLevelLabel, want)
	}
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	admitted := func(level psaapi.Level) (refused []string) {
		lv := psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}
		for name, pod := range r.podTemplates() {
			if res := policy.AggregateCheckResults(eval.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec)); !res.Allowed {
				refused = append(refused, name+": "+res.ForbiddenDetail())
			}
		}
		return refused
	}
	if refused := admitted(want); len(refused) > 0 {
		t.Errorf("at %s, Pod Security admission refuses %q", want, refused)
	}
	if want == psaapi.LevelBaseline && len(admitted(psaapi.LevelRestricted)) == 0 {
		t.Errorf("every pod meets restricted: the namespace should say so, not baseline")
	}
}

// checkSpread checks that pod spreads over the cluster's machines (by
// hostname, softly) among every pod of the zone, and a supernode also
// among the supernodes: the constraints' selectors must select the pods
// the zone's objects label.
func checkSpread(t *testing.T, name string, pod corev1.PodSpec, supernode bool) {
	t.Helper()
	want := []map[string]string{{"app.kubernetes.io/name": "patchnet"}}
	if supernode {
		want = append(want, map[string]string{"app.kubernetes.io/name": "patchnet", "app.kubernetes.io/component": "supernode"})
	}
	var got []map[string]string
	for _, c := range pod.TopologySpreadConstraints {
		if c.TopologyKey != corev1.LabelHostname || c.MaxSkew != 1 || c.WhenUnsatisfiable != corev1.ScheduleAnyway || c.LabelSelector == nil {
			t.Errorf("%s: spread constraint %+v, want maxSkew 1 by hostname, ScheduleAnyway", name, c)
			continue
		}
		got = append(got, c.LabelSelector.MatchLabels)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: spread over the machines among (-want +got):\n%s", name, d)
	}
}

// checkIdentity verifies name's certificate from its Secret against the
// rendered root and CRLs, as an agent does and with openssl, and that its
// key is the certificate's.
func checkIdentity(t *testing.T, r *rendered, dir, name string) trust.Identity {
	t.Helper()
	sec := r.secrets[name+"-key"]
	crt, key := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(crt, sec.Data["node.crt"], 0o644)
	os.WriteFile(key, sec.Data["node.key"], 0o600)
	id, err := ca.VerifyFile(crt, ca.VerifyOptions{Roots: []string{filepath.Join(dir, "root.crt")},
		CRLs: []string{filepath.Join(dir, "zone.crl"), filepath.Join(dir, "root.crl")}, RequireCRL: true})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	wantRole := trust.Role(strings.TrimRight(strings.TrimSuffix(name, "-0"), "-0123456789"))
	if !slices.Contains(id.Roles, wantRole) || id.Zone != "testnet" {
		t.Errorf("%s: certificate for %v in %s, want %s in testnet", name, id.Roles, id.Zone, wantRole)
	}
	if _, err := trust.LoadCredentials(key, crt); err != nil {
		t.Errorf("%s: key and certificate: %v", name, err)
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		if out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, "root.crt"), "-untrusted", crt, crt).CombinedOutput(); err != nil {
			t.Errorf("openssl verify %s: %v\n%s", name, err, out)
		}
	}
	return id
}

// checkPod checks a node pod: only its own key Secret (mode 0440), a
// prepare init container, named ports its probes use, no service account
// token, and least privilege — dpkg's capabilities for agents alone.
func checkPod(t *testing.T, r *rendered, name string, pod corev1.PodSpec, agent bool) {
	t.Helper()
	var secrets []string
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secrets = append(secrets, v.Secret.SecretName)
			if *v.Secret.DefaultMode != 0o440 {
				t.Errorf("%s: secret %s mode %#o, want 0440", name, v.Secret.SecretName, *v.Secret.DefaultMode)
			}
		}
	}
	if d := cmp.Diff([]string{name + "-key", "psk"}, secrets); d != "" {
		t.Errorf("%s mounts secrets (-want +got):\n%s", name, d)
	}
	if *pod.AutomountServiceAccountToken || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: service account token mounted or no RuntimeDefault seccomp", name)
	}
	if !agent && (pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot) {
		t.Errorf("%s runs as root; only agents (dpkg) may", name)
	}
	container(t, pod, "prepare")
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		sc := c.SecurityContext
		if *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s/%s: security context %+v", name, c.Name, sc)
		}
		if len(sc.Capabilities.Add) > 0 && !(agent && (c.Name == "node" || c.Name == "prepare")) {
			t.Errorf("%s/%s adds capabilities %v", name, c.Name, sc.Capabilities.Add)
		}
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
			if p == nil {
				continue
			}
			port := p.TCPSocket
			var named string
			if port != nil {
				named = port.Port.StrVal
			} else {
				named = p.HTTPGet.Port.StrVal
			}
			if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == named }) {
				t.Errorf("%s/%s probes port %q it does not have", name, c.Name, named)
			}
		}
	}
	if name != "publisher" {
		if got := container(t, pod, "node").Ports[0]; got.Name != "p2p" || got.ContainerPort != k8s.P2PPort {
			t.Errorf("%s: node port %+v", name, got)
		}
		if got := container(t, pod, "api-proxy").Ports[0]; got.Name != "api" || got.ContainerPort != k8s.APIPort {
			t.Errorf("%s: proxy port %+v", name, got)
		}
	}
}

// podRoot writes what the named container mounts into a fresh directory,
// as its pod sees it, and rewrites path in data to point there.
func podRoot(t *testing.T, r *rendered, pod corev1.PodSpec, name string) (root string, rewrite func(string) string) {
	root = t.TempDir()
	r.podFiles(t, root, pod, container(t, pod, name))
	return root, func(s string) string {
		for _, prefix := range []string{"/etc/patchnet/", "/var/lib/patchnet/", "/run/patchnet/", "/srv/debs/", "/srv/fix"} {
			s = strings.ReplaceAll(s, prefix, root+prefix)
		}
		return s
	}
}

// loadPodConfig loads a ConfigMap-mounted config with the daemon's loader,
// its paths pointed at the files the container mounts, and validates it.
func loadPodConfig(t *testing.T, r *rendered, pod corev1.PodSpec, name, file string) node.Config {
	t.Helper()
	root, rewrite := podRoot(t, r, pod, name)
	path := filepath.Join(root, "/etc/patchnet/config", file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte(rewrite(string(data))), 0o600)
	cfg, err := node.LoadConfig(path)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cfg
}

// agentInitConfig runs the agent pod's `patchnet init agent` container
// over the files it mounts and loads the config it writes.
func agentInitConfig(t *testing.T, r *rendered, pod corev1.PodSpec) node.Config {
	t.Helper()
	c := container(t, pod, "config")
	_, rewrite := podRoot(t, r, pod, "config")
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = rewrite(a)
	}
	if args[0] != "init" {
		t.Fatalf("config container runs %v", c.Args)
	}
	mustInit(t, args[1:]...)
	cfg, err := node.LoadConfig(args[slices.Index(args, "--out")+1])
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// wantBoot checks that boot are n supernodes' DNS multiaddrs, each with
// the peer ID of that supernode's key.
func wantBoot(t *testing.T, name string, boot []string, peers map[string]string, n int) {
	t.Helper()
	if len(boot) != n {
		t.Errorf("%s bootstraps from %d peers, want %d", name, len(boot), n)
	}
	for _, b := range boot {
		a, err := ma.NewMultiaddr(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		host, _ := a.ValueForProtocol(ma.P_DNS4)
		id, _ := a.ValueForProtocol(ma.P_P2P)
		if want, ok := peers[host]; !ok || want != id {
			t.Errorf("%s bootstraps from %s: host %s is peer %s, want %q", name, b, host, id, want)
		}
	}
}

// checkVendor checks that the publisher's fix is served by the vendor
// origin the supernodes trust, signed by the key they pin.
func checkVendor(t *testing.T, r *rendered) {
	t.Helper()
	debs := r.configMaps["debs"].BinaryData
	job, vendor := r.job.Spec.Template.Spec, r.deploy.Spec.Template.Spec
	args := container(t, job, "author").Args
	url := args[slices.Index(args, "--url")+1]
	deb := url[strings.LastIndex(url, "/")+1:]
	if !strings.HasPrefix(url, "http://vendor.tn.svc.cluster.local:8080/") || debs[deb+".asc"] == nil {
		t.Fatalf("publisher's URL %s: not the vendor Service or no signature served", url)
	}
	if d := cmp.Diff(container(t, vendor, "build-fix").Args, container(t, job, "build-fix").Args); d != "" {
		t.Errorf("the vendor and the publisher rebuild different fixes (-vendor +publisher):\n%s", d)
	}
	if origin := container(t, vendor, "origin").Args; !slices.Contains(origin, "/srv/fix") || !slices.Contains(origin, "/srv/debs") {
		t.Errorf("the origin serves %v: not the rebuilt fix and the signatures", origin)
	}
	_, rewrite := podRoot(t, r, vendor, "build-fix")
	fix := rewrite("/srv/fix/" + deb)
	runBuildFix(t, vendor, rewrite)
	data, err := os.ReadFile(fix)
	if err != nil {
		t.Fatalf("the vendor's build-fix wrote no %s: %v", deb, err)
	}
	keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(r.configMaps["vendor-key"].Data["vendor.asc"]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openpgp.CheckArmoredDetachedSignature(keys, bytes.NewReader(data), bytes.NewReader(debs[deb+".asc"]), nil); err != nil {
		t.Errorf("vendor signature of %s: %v", deb, err)
	}
}

// runBuildFix runs pod's build-fix init container with its paths
// rewritten.
func runBuildFix(t *testing.T, pod corev1.PodSpec, rewrite func(string) string) {
	t.Helper()
	args := container(t, pod, "build-fix").Args
	run := make([]string, len(args))
	for i, a := range args {
		run[i] = rewrite(a)
	}
	if run[0] != "testnet" || run[1] != "build-fix" {
		t.Fatalf("build-fix container runs %v", args)
	}
	if msg, err := runPodCmd(t, run[1:]...); err != nil {
		t.Fatalf("build-fix container %v: %v\n%s", args, err, msg)
	}
}

// render's --rollout-spread reaches the fix: the publisher Job's author
// container, run as `patchnet update new` over the files it mounts, writes
// an announcement with that spread; without the flag it writes none.
func TestTestnetRenderRolloutSpread(t *testing.T) {
	for _, c := range []struct {
		flags []string
		want  *updates.Rollout
	}{
		{nil, nil},
		{[]string{"--rollout-spread", "90s"}, &updates.Rollout{Spread: updates.Duration(90 * time.Second)}},
	} {
		out := filepath.Join(t.TempDir(), "zone.yaml")
		args := append([]string{"render", "--k8s", "--nodes", "1", "--supernodes", "1", "--threshold", "1", "--out", out}, c.flags...)
		if msg, err := runTestnetSubCmd(t, args...); err != nil {
			t.Fatalf("render %v: %v\n%s", c.flags, err, msg)
		}
		data, _ := os.ReadFile(out)
		r := decodeRendered(t, data)
		pod := r.job.Spec.Template.Spec
		author := container(t, pod, "author")
		root, rewrite := podRoot(t, r, pod, "author")
		os.MkdirAll(filepath.Join(root, "/run/patchnet"), 0o755)
		runBuildFix(t, pod, rewrite)
		run := make([]string, len(author.Args))
		for i, a := range author.Args {
			run[i] = rewrite(a)
		}
		if run[0] != "update" {
			t.Fatalf("author container runs %v", author.Args)
		}
		if msg, err := runCommand(t, newUpdateCmd(), run[1:]...); err != nil {
			t.Fatalf("author container %v: %v\n%s", author.Args, err, msg)
		}
		raw, err := os.ReadFile(run[slices.Index(run, "--out")+1])
		if err != nil {
			t.Fatal(err)
		}
		a, err := updates.DecodeAnnouncement(raw)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(c.want, a.Patchnet.Rollout); d != "" {
			t.Errorf("render %v: the fix's rollout (-want +got):\n%s", c.flags, d)
		}
	}
}

// render refuses what it cannot do, naming it.
func TestTestnetRenderRefuses(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "zone.yaml")
	os.WriteFile(existing, nil, 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"render"}, "--k8s is required"},
		{[]string{"render", "--k8s", "--threshold", "4"}, "threshold 4"},
		{[]string{"render", "--k8s", "--namespace", "Bad_NS"}, "namespace"},
		{[]string{"render", "--k8s", "--out", existing}, "exists"},
		{[]string{"render", "--k8s", "--rollout-spread", "2h"}, "rollout spread 2h0m0s"},
		{[]string{"render", "--k8s", "--scenario", "table2"}, `scenario "table2": the manifests play propagation, stolen-key`},
		{[]string{"render", "--k8s", "--scenario", "churn", "--nodes", "3"}, "kills 0 and restarts none"},
		{[]string{"render", "--k8s", "--scenario", "flood", "--private"}, "scenario flood: a private zone's pre-shared key"},
		{[]string{"render", "--k8s", "--scenario", "churn", "--churn", "1"}, "churn share 1: want 0 ≤ share < 1"},
		{[]string{"render", "--k8s", "--scenario", "churn", "--churn", "NaN"}, "churn share NaN: want 0 ≤ share < 1"},
		{[]string{"render", "--k8s", "--scenario", "byzantine", "--threshold", "1"}, "scenario byzantine: needs k ≥ 2"},
		{[]string{"render", "--k8s", "--scenario", "revocation", "--supernodes", "2"}, "scenario revocation: needs k supernodes beside"},
		{[]string{"render", "--k8s", "--scenario", "private-zone", "--private"}, "scenario private-zone: renders a public zone and the private zone \"acme\""},
		{[]string{"render", "--k8s", "--scenario", "private-zone", "--zone", "acme"}, "scenario private-zone: renders a public zone"},
		{[]string{"render", "--k8s", "--scenario", "private-zone", "--nodes", "1"}, "scenario private-zone: needs at least 2 agents"},
		{[]string{"render", "--k8s", "--artifact-size", "1.5GiB"}, "artifact bytes 1610612736: want 0..1073741824"},
		{[]string{"render", "--k8s", "--artifact-size", "lots"}, `--artifact-size "lots"`},
		{[]string{"render", "--k8s", "--loss", "60%"}, "shaping: loss 0.6: want 0..0.5"},
		{[]string{"render", "--k8s", "--scenario", "partition", "--nodes", "1"}, "scenario partition: needs at least 2 agents"},
		{[]string{"render", "--k8s", "--scenario", "partition", "--partition-hold", "0s"}, "partition hold 0s"},
		{[]string{"render", "--k8s", "--latency", "11s"}, "shaping: latency 11s: want 0..10s"},
		{[]string{"render", "--k8s", "--bandwidth", "fast"}, `--bandwidth "fast"`},
		{[]string{"collect", "--endpoint", t.TempDir(), "--scenario", "revocation"}, "no revoked supernode's peer id"},
		{[]string{"collect", "--endpoint", t.TempDir(), "--scenario", "content", "--artifact-size", "1MiB"}, "scenario content: needs the vendor origin's URL"},
		{[]string{"collect", "--endpoint", t.TempDir(), "--scenario", "content", "--origin", "http://127.0.0.1:1/"}, "scenario content: needs the vendor origin's URL and the artifact's size"},
		{[]string{"collect"}, "give --endpoint"},
		{[]string{"collect", "--endpoint", t.TempDir(), "--scenario", "table2"}, `scenario "table2"`},
		{[]string{"collect", "--k8s-namespace", "tn"}, "--nodes 0"},
	} {
		if _, err := runTestnetSubCmd(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}

// collect's --k8s-namespace names the rendered pods' proxies by the DNS
// names the headless Services give them.
func TestCollectTargets(t *testing.T) {
	got, err := collectOptions{namespace: "tn", domain: "cluster.local", agents: 2, supernodes: 1}.targets()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http://supernode-0-0.supernodes.tn.svc.cluster.local:9090",
		"http://agent-0-0.agents.tn.svc.cluster.local:9090", "http://agent-1-0.agents.tn.svc.cluster.local:9090"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("targets (-want +got):\n%s", d)
	}
	// In late-join the last fifth of the agents were held back by render.
	o := collectOptions{namespace: "tn", domain: "cluster.local", agents: 10, supernodes: 1}
	o.Scenario = testnet.ScenarioLateJoin
	late := []string{"http://agent-8-0.agents.tn.svc.cluster.local:9090", "http://agent-9-0.agents.tn.svc.cluster.local:9090"}
	if d := cmp.Diff(late, o.lateTargets()); d != "" {
		t.Errorf("late targets (-want +got):\n%s", d)
	}
	// In private-zone the private zone's nodes too: the smaller half of
	// the agents, as many supernodes.
	o = collectOptions{namespace: "tn", domain: "cluster.local", agents: 3, supernodes: 1}
	o.Scenario = testnet.ScenarioPrivateZone
	eps, err := o.targets()
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"http://supernode-0-0.supernodes.tn.svc.cluster.local:9090", "http://agent-0-0.agents.tn.svc.cluster.local:9090",
		"http://agent-1-0.agents.tn.svc.cluster.local:9090", "http://acme-supernode-0-0.supernodes.tn.svc.cluster.local:9090",
		"http://acme-agent-0-0.agents.tn.svc.cluster.local:9090"}
	if d := cmp.Diff(want, eps); d != "" {
		t.Errorf("private-zone targets (-want +got):\n%s", d)
	}
	// In churn, 3 of 4 agents at a share of 0.75: agent-0 restarted,
	// agent-1 and agent-2 left down and not read.
	o = collectOptions{namespace: "tn", domain: "cluster.local", agents: 4, churn: 0.75}
	o.Scenario = testnet.ScenarioChurn
	eps, err = o.targets()
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"http://agent-0-0.agents.tn.svc.cluster.local:9090", "http://agent-3-0.agents.tn.svc.cluster.local:9090"}
	if d := cmp.Diff(want, eps); d != "" {
		t.Errorf("churn targets (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want[:1], o.restartedTargets()); d != "" {
		t.Errorf("restarted targets (-want +got):\n%s", d)
	}
}

// render --scenario partition puts a cut sidecar first in every pod of the
// cut side (the second half of the agents, the supernodes past k) and in
// no other: root with NET_ADMIN, a startup probe holding the pod until the
// cut is in place, keeping exactly the cut side's pods, its arguments the
// cut command's; the publisher Job waits for every cut agent's heartbeat
// alarm before it publishes; collect with --k8s-namespace knows the cut
// agents.
func TestTestnetRenderPartition(t *testing.T) {
	out := filepath.Join(t.TempDir(), "zone.yaml")
	if msg, err := runTestnetSubCmd(t, "render", "--k8s", "--scenario", "partition", "--nodes", "4", "--supernodes", "3", "--threshold", "2",
		"--namespace", "tn", "--partition-hold", "7m", "--out", out); err != nil {
		t.Fatalf("render: %v\n%s", err, msg)
	}
	data, _ := os.ReadFile(out)
	r := decodeRendered(t, data)
	checkPodSecurity(t, r, psaapi.LevelPrivileged) // the cut sidecars' NET_ADMIN
	cutSide := []string{"supernode-2", "agent-2", "agent-3"}
	var keep []string
	for _, name := range cutSide {
		keep = append(keep, "--keep", name+"-0."+map[bool]string{true: "supernodes", false: "agents"}[strings.HasPrefix(name, "supernode")]+".tn.svc.cluster.local")
	}
	for name, set := range r.sets {
		pod := set.Spec.Template.Spec
		c := pod.InitContainers[0]
		if !slices.Contains(cutSide, name) {
			if c.Name == "cut" {
				t.Errorf("%s, of the connected side, is cut", name)
			}
			continue
		}
		if c.Name != "cut" || c.RestartPolicy == nil || c.StartupProbe == nil || *c.SecurityContext.RunAsUser != 0 ||
			!slices.Contains(c.SecurityContext.Capabilities.Add, "NET_ADMIN") {
			t.Errorf("%s's first init container %s: want the cut sidecar, root with NET_ADMIN and a startup probe", name, c.Name)
			continue
		}
		if node := container(t, pod, "node"); node.LivenessProbe != nil {
			t.Errorf("%s's node has a liveness probe: the cut keeps the kubelet's probe out, and it would restart the node", name)
		}
		var got []string
		for i, a := range c.Args {
			if a == "--keep" {
				got = append(got, a, c.Args[i+1])
			}
		}
		if d := cmp.Diff(keep, got); d != "" {
			t.Errorf("%s keeps (-want +got):\n%s", name, d)
		}
		cmd := newTestnetCutCmd()
		if err := cmd.ParseFlags(c.Args[2:]); err != nil || !slices.Contains(c.Args, "7m0s") {
			t.Errorf("%s's cut arguments %v: %v", name, c.Args, err)
		}
		// Its API proxy serves the cut's stamps, which the cut writes:
		// collect's heal time.
		proxy := container(t, pod, "api-proxy").Args
		stamps := map[string]string{"--cut-ready": "--ready", "--cut-healed": "--marker"}
		for pf, cf := range stamps {
			pi, ci := slices.Index(proxy, pf), slices.Index(c.Args, cf)
			if pi < 0 || ci < 0 || proxy[pi+1] != c.Args[ci+1] {
				t.Errorf("%s: the proxy's %s is not the cut's %s (%v; %v)", name, pf, cf, proxy, c.Args)
			}
		}
		if err := newTestnetAPIProxyCmd().ParseFlags(proxy[2:]); err != nil {
			t.Errorf("%s's proxy arguments %v: %v", name, proxy, err)
		}
	}
	wait := container(t, r.job.Spec.Template.Spec, "wait-cut").Args
	if !slices.Contains(wait, "heartbeat-stale") || !slices.Contains(wait, "http://agent-3-0.agents.tn.svc.cluster.local:9090") ||
		slices.Contains(wait, "http://agent-1-0.agents.tn.svc.cluster.local:9090") {
		t.Errorf("the Job's wait %v: want the cut agents' heartbeat alarms", wait)
	}
	// Its arguments pass the wait's own check (it waited without an update
	// id for crl alone before): here it times out on a node that is not there.
	run := slices.Clone(wait[1:])
	run[slices.Index(run, "--timeout")+1] = "10ms"
	if msg, err := runPodCmd(t, run...); err == nil || !strings.Contains(err.Error(), "not yet on") {
		t.Errorf("the Job's wait as rendered: %v, want a timeout waiting for the nodes\n%s", err, msg)
	}
	o := collectOptions{namespace: "tn", domain: "cluster.local", agents: 4, supernodes: 3}
	o.Scenario = testnet.ScenarioPartition
	want := []string{"http://agent-2-0.agents.tn.svc.cluster.local:9090", "http://agent-3-0.agents.tn.svc.cluster.local:9090"}
	if d := cmp.Diff(want, o.agentsWhere(testnet.ScenarioPartition, nil, k8s.Spec.CutAgent)); d != "" {
		t.Errorf("collect's cut agents (-want +got):\n%s", d)
	}
}

// The HTTP baseline is rendered for propagation (and content) unless
// --no-baselines: a container in each agent pod and the barrier's size
// on the vendor origin; the scenarios netns runs without it, and
// --no-baselines, render neither.
func TestTestnetRenderHTTPBaseline(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"--no-baselines"}, false},
		{[]string{"--scenario", testnet.ScenarioStolenKey}, false},
	} {
		out := filepath.Join(t.TempDir(), "zone.yaml")
		args := append([]string{"render", "--k8s", "--nodes", "2", "--supernodes", "2", "--threshold", "2", "--namespace", "tn", "--out", out}, tc.args...)
		if msg, err := runTestnetSubCmd(t, args...); err != nil {
			t.Fatalf("render %v: %v\n%s", tc.args, err, msg)
		}
		data, _ := os.ReadFile(out)
		r := decodeRendered(t, data)
		origin := r.deploy.Spec.Template.Spec.Containers[0].Args
		if got := slices.Contains(origin, "--baseline-clients") && slices.Contains(origin, "2"); got != tc.want {
			t.Errorf("render %v: the origin runs the barrier %v (%v), want %v", tc.args, got, origin, tc.want)
		}
		for _, name := range []string{"agent-0", "agent-1"} {
			pod := r.sets[name].Spec.Template.Spec
			got := slices.ContainsFunc(pod.Containers, func(c corev1.Container) bool { return c.Name == "http-baseline" })
			if got != tc.want {
				t.Errorf("render %v: %s has the baseline container %v, want %v", tc.args, name, got, tc.want)
			}
		}
	}
}

// An agent pod asks the scheduler for little: its containers and
// sidecars together (with the HTTP baseline, shaping and a latency
// sidecar, the most a pod has) request at most 50m of CPU, so forty fit
// a 2-core node. At 50m a container, four asked for 200m and a 2-core
// node took ten agents (seen on a one-node cluster).
func TestTestnetRenderPodRequestsFit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "zone.yaml")
	if msg, err := runTestnetSubCmd(t, "render", "--k8s", "--nodes", "2", "--supernodes", "2", "--threshold", "2", "--namespace", "tn",
		"--bandwidth", "10Mbit", "--latency", "20ms", "--out", out); err != nil {
		t.Fatalf("render: %v\n%s", err, msg)
	}
	data, _ := os.ReadFile(out)
	r := decodeRendered(t, data)
	for name, set := range r.sets {
		pod := set.Spec.Template.Spec
		var sum int64
		for _, c := range pod.Containers {
			sum += c.Resources.Requests.Cpu().MilliValue()
		}
		for _, c := range pod.InitContainers {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways { // a sidecar runs beside them
				sum += c.Resources.Requests.Cpu().MilliValue()
			}
		}
		if sum > 50 || sum == 0 {
			t.Errorf("%s's pod requests %dm of CPU, want 1..50m", name, sum)
		}
	}
}
