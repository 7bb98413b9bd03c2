package deploy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/blobvalet/blobvalet/config"
)

// newObject returns an empty value of the API type for apiVersion and kind.
// A kind not listed here is refused: every manifest must be checkable.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		return &kusttypes.Kustomization{}
	}
	return nil
}

// decodeStrict decodes every YAML document in data into its API type;
// a field the type does not have is an error.
func decodeStrict(data []byte) ([]any, error) {
	var objs []any
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		obj := newObject(tm.APIVersion, tm.Kind)
		if obj == nil {
			return nil, fmt.Errorf("document %d: unknown kind %q %q", i, tm.APIVersion, tm.Kind)
		}
		// As the API server decodes: field names are case-sensitive (which
		// encoding/json's are not), unknown and duplicate fields refused.
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, tm.Kind, err)
		}
		strict, err := kjson.UnmarshalStrict(j, obj)
		if err == nil {
			err = errors.Join(strict...)
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, tm.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

func TestManifestsDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*/*.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("found %d manifests (%v)", len(files), err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeStrict(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if len(objs) == 0 {
			t.Errorf("%s: no manifest", f)
		}
	}
}

// TestDecodeStrictRefusesUnknownFields shows that a misspelt field fails,
// so that the other tests mean something.
func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          livenessprobe: {}\n",
		"apiVersion: v1\nkind: Pod\n",
		"apiVersion: v1\nkind: Service\nspec:\n  type: ClusterIP\n  type: NodePort\n",
	} {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
}

// variant is one kustomization, rendered and decoded.
type variant struct {
	dir     string
	objs    []any
	secret  *corev1.Secret // the template beside the kustomization
	deploy  *appsv1.Deployment
	cfgMap  *corev1.ConfigMap
	service *corev1.Service
}

func render(t *testing.T, dir string) *variant {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeStrict(out)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	v := &variant{dir: dir, objs: objs}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			v.deploy = o
		case *corev1.ConfigMap:
			v.cfgMap = o
		case *corev1.Service:
			v.service = o
		case *corev1.Secret:
			t.Errorf("%s renders a Secret: applying it would overwrite the real values", dir)
		}
	}
	if v.deploy == nil || v.cfgMap == nil || v.service == nil {
		t.Fatalf("%s lacks a Deployment, ConfigMap or Service", dir)
	}
	data, err := os.ReadFile(filepath.Join(dir, "secret.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := decodeStrict(data)
	if err != nil || len(sec) != 1 {
		t.Fatalf("%s/secret.example.yaml: %v", dir, err)
	}
	v.secret = sec[0].(*corev1.Secret)
	return v
}

func (v *variant) container(t *testing.T) *corev1.Container {
	t.Helper()
	cs := v.deploy.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "blobvalet" {
		t.Fatalf("want one container named blobvalet, got %d", len(cs))
	}
	return &cs[0]
}

// shutdownStop is the longest blobvalet takes to stop with sh: the drain,
// then the wait for requests in flight.
func shutdownStop(sh config.Shutdown) time.Duration {
	return sh.Drain.Duration() + sh.Timeout.Duration()
}

func TestKubernetesVariants(t *testing.T) {
	for _, dir := range []string{"kubernetes/base", "kubernetes/workload-identity"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			v := render(t, dir)
			cfg := checkConfig(t, v)
			checkPodSpec(t, v, cfg)
			checkService(t, v, cfg)
			checkDisruptionAndScaling(t, v)
			if filepath.Base(dir) == "workload-identity" {
				checkWorkloadIdentity(t, v, cfg)
			} else if cfg.Storage.Credential != config.CredentialSharedKey {
				t.Errorf("base uses credential %s", cfg.Storage.Credential)
			}
		})
	}
}

// checkConfig parses the ConfigMap's blobvalet.yaml with blobvalet's own
// parser. Secrets get dummy values of the right shape; every environment
// variable the parser asks for must come from the Secret, and every secret
// file must be a key of the Secret mounted where the file is named.
func checkConfig(t *testing.T, v *variant) *config.Config {
	t.Helper()
	text, ok := v.cfgMap.Data["blobvalet.yaml"]
	if !ok {
		t.Fatal("the ConfigMap has no blobvalet.yaml")
	}
	c := v.container(t)
	if !slices.Equal(c.Args, []string{"serve", "--config", "/etc/blobvalet/blobvalet.yaml"}) {
		t.Errorf("args %q", c.Args)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	vols := map[string]corev1.Volume{}
	for _, vol := range v.deploy.Spec.Template.Spec.Volumes {
		vols[vol.Name] = vol
	}
	configMounted := false
	for name, m := range mounts {
		vol := vols[name]
		if vol.ConfigMap != nil && vol.ConfigMap.Name == v.cfgMap.Name && m.MountPath == "/etc/blobvalet" && m.ReadOnly {
			configMounted = true
		}
	}
	if !configMounted {
		t.Error("the ConfigMap is not mounted read-only at /etc/blobvalet")
	}

	secretKeys := map[string]bool{}
	for k, val := range v.secret.StringData {
		secretKeys[k] = true
		if !strings.HasPrefix(val, "REPLACE") {
			t.Errorf("secret.example.yaml: %s holds %q, not a placeholder", k, val)
		}
	}
	if len(v.secret.Data) > 0 {
		t.Error("secret.example.yaml: use stringData placeholders, not data")
	}
	fromSecret := map[string]bool{}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil && ef.SecretRef.Name == v.secret.Name && ef.Prefix == "" {
			for k := range secretKeys {
				fromSecret[k] = true
			}
		}
	}
	for _, e := range c.Env {
		if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && r.SecretKeyRef.Name == v.secret.Name && secretKeys[r.SecretKeyRef.Key] {
			fromSecret[e.Name] = true
		}
	}

	// Secret files: each named file must be KEY in a mount of the Secret.
	// For the parser, each is replaced by a temporary file.
	tmp := t.TempDir()
	for _, f := range namedFiles(t, text) {
		dir, key := filepath.Split(f)
		found := false
		for name, m := range mounts {
			vol := vols[name]
			if vol.Secret != nil && vol.Secret.SecretName == v.secret.Name && filepath.Clean(m.MountPath) == filepath.Clean(dir) && secretKeys[key] {
				found = true
			}
		}
		if !found {
			t.Errorf("the configuration names the file %s, but no mount of Secret %s holds a key %q there", f, v.secret.Name, key)
		}
		local := filepath.Join(tmp, key)
		if err := os.WriteFile(local, []byte(dummySecret), 0o600); err != nil {
			t.Fatal(err)
		}
		text = strings.ReplaceAll(text, f, local)
	}

	asked := map[string]bool{}
	cfg, err := config.Parse([]byte(text), func(name string) string {
		asked[name] = true
		if fromSecret[name] {
			return dummySecret
		}
		return ""
	})
	if err != nil {
		t.Fatalf("blobvalet refuses the ConfigMap's configuration:\n%v", err)
	}
	for name := range asked {
		if !fromSecret[name] {
			t.Errorf("the configuration reads $%s, which the Secret does not provide", name)
		}
	}
	for k := range secretKeys {
		if !asked[k] && !slices.ContainsFunc(namedFiles(t, v.cfgMap.Data["blobvalet.yaml"]), func(f string) bool { return filepath.Base(f) == k }) {
			t.Errorf("the Secret holds %s, which the configuration never reads", k)
		}
	}
	return cfg
}

// dummySecret has the shape of every secret blobvalet reads: base64 (a
// storage key), and longer than any minimum length.
var dummySecret = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 64))

// namedFiles returns every secret file the configuration names: the values
// of keys file and *_file, anywhere.
func namedFiles(t *testing.T, text string) []string {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	var files []string
	var walk func(any)
	walk = func(n any) {
		switch n := n.(type) {
		case map[string]any:
			for k, val := range n {
				if s, ok := val.(string); ok && (k == "file" || strings.HasSuffix(k, "_file")) {
					files = append(files, s)
				}
				walk(val)
			}
		case []any:
			for _, e := range n {
				walk(e)
			}
		}
	}
	walk(doc)
	return files
}

func checkPodSpec(t *testing.T, v *variant, cfg *config.Config) {
	t.Helper()
	d := v.deploy
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Error("want replicas: 2")
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the selector does not match the pod labels (%v)", err)
	}
	ps := d.Spec.Template.Spec
	c := v.container(t)

	_, port, _ := net.SplitHostPort(cfg.Listen)
	_, adminPort, _ := net.SplitHostPort(cfg.AdminListen)
	ports := map[string]string{} // name → number
	for _, p := range c.Ports {
		ports[p.Name] = strconv.Itoa(int(p.ContainerPort))
	}
	if ports["http"] != port {
		t.Errorf("container port http is %q, but blobvalet listens on %s", ports["http"], cfg.Listen)
	}
	if ports["admin"] != adminPort {
		t.Errorf("container port admin is %q, but blobvalet's admin listener is on %s", ports["admin"], cfg.AdminListen)
	}
	for name, addr := range map[string]string{"listen": cfg.Listen, "admin_listen": cfg.AdminListen} {
		if host, _, _ := net.SplitHostPort(addr); host != "0.0.0.0" && host != "" && host != "::" {
			t.Errorf("%s %s: the kubelet and the Service cannot reach a pod that listens on %s", name, addr, host)
		}
	}
	// Liveness on the public port (it says nothing); readiness, which names
	// what is degraded and why, on the admin port.
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := map[string]string{"liveness": "/healthz", "readiness": "/readyz"}[name]
		wantPort := map[string]string{"liveness": "http", "readiness": "admin"}[name]
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		if p.HTTPGet.Path != want {
			t.Errorf("%s probe path %q, want %q", name, p.HTTPGet.Path, want)
		}
		if pp := p.HTTPGet.Port.String(); pp != wantPort && pp != ports[wantPort] {
			t.Errorf("%s probe port %s, want %s (%s)", name, pp, wantPort, ports[wantPort])
		}
	}
	if a := v.deploy.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != adminPort || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("the pods' prometheus.io annotations %v do not point at /metrics on the admin port %s", a, adminPort)
	}

	if r := c.Resources; r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
		t.Error("set CPU and memory requests and a memory limit")
	}
	psc, sc := ps.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || sc == nil:
		t.Fatal("no security context")
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0:
		t.Error("run as a non-root user")
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("want seccomp RuntimeDefault")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("want readOnlyRootFilesystem")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("want allowPrivilegeEscalation: false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Error("drop ALL capabilities, add none")
	}
	for _, vol := range ps.Volumes {
		if s := vol.Secret; s != nil && (s.DefaultMode == nil || *s.DefaultMode&0o004 == 0) &&
			(psc.FSGroup == nil || psc.RunAsGroup == nil || *psc.FSGroup != *psc.RunAsGroup) {
			t.Errorf("volume %s: the secret files are not readable by blobvalet's user: set fsGroup to its group", vol.Name)
		}
	}
	if len(ps.TopologySpreadConstraints) == 0 && (ps.Affinity == nil || ps.Affinity.PodAntiAffinity == nil) {
		t.Error("spread the replicas: topologySpreadConstraints or pod anti-affinity")
	}

	var preStop time.Duration
	if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	stop := shutdownStop(cfg.Shutdown)
	if g := ps.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= preStop+stop {
		t.Errorf("terminationGracePeriodSeconds must exceed the preStop sleep (%v) plus blobvalet's shutdown drain and timeout (%v)", preStop, stop)
	}
}

func checkService(t *testing.T, v *variant, cfg *config.Config) {
	t.Helper()
	s := v.service
	if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(v.deploy.Spec.Template.Labels)) || len(s.Spec.Selector) == 0 {
		t.Error("the Service does not select blobvalet's pods")
	}
	_, port, _ := net.SplitHostPort(cfg.Listen)
	for _, p := range s.Spec.Ports {
		if tp := p.TargetPort.String(); tp != "http" && tp != port {
			t.Errorf("Service port %s targets %s, not blobvalet's public port: the admin port stays inside the cluster", p.Name, tp)
		}
	}
}

func checkDisruptionAndScaling(t *testing.T, v *variant) {
	t.Helper()
	var pdb *policyv1.PodDisruptionBudget
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	for _, o := range v.objs {
		switch o := o.(type) {
		case *policyv1.PodDisruptionBudget:
			pdb = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpa = o
		}
	}
	if pdb == nil || hpa == nil {
		t.Fatal("want a PodDisruptionBudget and a HorizontalPodAutoscaler")
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(v.deploy.Spec.Template.Labels)) {
		t.Error("the PodDisruptionBudget does not select blobvalet's pods")
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 {
		t.Error("the PodDisruptionBudget must keep one pod")
	}
	ref := hpa.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != v.deploy.Name {
		t.Errorf("the autoscaler scales %s %s", ref.Kind, ref.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Error("the autoscaler must keep at least 2 replicas")
	}
}

func checkWorkloadIdentity(t *testing.T, v *variant, cfg *config.Config) {
	t.Helper()
	if cfg.Storage.Credential != config.CredentialAzureAD {
		t.Errorf("credential %s, want azuread", cfg.Storage.Credential)
	}
	ps := v.deploy.Spec.Template
	if ps.Labels["azure.workload.identity/use"] != "true" {
		t.Error(`the pods lack the label azure.workload.identity/use: "true"`)
	}
	var sa *corev1.ServiceAccount
	for _, o := range v.objs {
		if o, ok := o.(*corev1.ServiceAccount); ok && o.Name == ps.Spec.ServiceAccountName {
			sa = o
		}
	}
	if sa == nil {
		t.Fatalf("no ServiceAccount %q", ps.Spec.ServiceAccountName)
	}
	if sa.Namespace != v.deploy.Namespace {
		t.Errorf("ServiceAccount in namespace %q, pods in %q", sa.Namespace, v.deploy.Namespace)
	}
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(sa.Annotations["azure.workload.identity/client-id"]) {
		t.Error("the ServiceAccount lacks azure.workload.identity/client-id")
	}
}
