// Package deploy checks framegate's deployment offline: the Kubernetes
// manifests under kubernetes/ and the repository's Dockerfile. It is a Go
// module of its own, so that the Kubernetes API types stay out of the
// gateway's module; `make test` runs it (make test-deploy).
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	manifestDir = "kubernetes"
	dockerfile  = "../Dockerfile"
	makefile    = "../Makefile"
	// clusterDomain is the cluster's DNS domain (the kubelet's default).
	clusterDomain = "cluster.local"
)

// manifests is every object under manifestDir, by kind.
type manifests struct {
	namespaces  []*corev1.Namespace
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
}

// loadManifests reads every YAML document of every .yaml or .yml file under
// manifestDir and decodes it strictly (unknown or duplicate fields are
// errors) into the typed object of its apiVersion and kind; another kind is
// an error.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	var files []string
	err := filepath.WalkDir(manifestDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no .yaml files under %s", manifestDir)
	}
	m := &manifests{}
	seen := map[string]string{}
	for _, file := range files {
		docs, err := readDocuments(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		objects := 0
		for i, doc := range docs {
			where := fmt.Sprintf("%s (document %d)", file, i+1)
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if string(bytes.TrimSpace(js)) == "null" {
				continue // only comments
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var obj interface {
				GetName() string
				GetNamespace() string
			}
			switch gvk := tm.APIVersion + ", Kind=" + tm.Kind; gvk {
			case "apps/v1, Kind=Deployment":
				d := &appsv1.Deployment{}
				m.deployments, obj = append(m.deployments, d), d
			case "v1, Kind=Service":
				s := &corev1.Service{}
				m.services, obj = append(m.services, s), s
			case "v1, Kind=Namespace":
				n := &corev1.Namespace{}
				m.namespaces, obj = append(m.namespaces, n), n
			case "v1, Kind=ConfigMap":
				c := &corev1.ConfigMap{}
				m.configMaps, obj = append(m.configMaps, c), c
			default:
				t.Fatalf("%s: unexpected object %s (this test knows apps/v1 Deployment, v1 Service, v1 ConfigMap and v1 Namespace: teach it the new kind)", where, gvk)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s: %s: %v", where, tm.Kind, err)
			}
			if obj.GetName() == "" {
				t.Fatalf("%s: %s without metadata.name", where, tm.Kind)
			}
			key := tm.Kind + " " + obj.GetNamespace() + "/" + obj.GetName()
			if prev, ok := seen[key]; ok {
				t.Fatalf("%s: %s is also in %s", where, key, prev)
			}
			seen[key] = where
			objects++
		}
		if objects == 0 {
			t.Fatalf("%s: no object", file)
		}
	}
	return m
}

// readDocuments splits a YAML file into its documents.
func readDocuments(file string) ([][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

// workload is a Deployment running gw with one command: serve or backend.
type workload struct {
	d     *appsv1.Deployment
	c     *corev1.Container // the container running gw
	flags map[string]string // its flags, by name without the dash
}

func (w *workload) pod() *corev1.PodSpec { return &w.d.Spec.Template.Spec }

// podLabels are the labels of the workload's pods.
func (w *workload) podLabels() labels.Set { return w.d.Spec.Template.Labels }

// workload finds the one Deployment whose container runs `gw command`.
func (m *manifests) workload(t *testing.T, command string) *workload {
	t.Helper()
	var found []*workload
	for _, d := range m.deployments {
		for i := range d.Spec.Template.Spec.Containers {
			c := &d.Spec.Template.Spec.Containers[i]
			if len(c.Args) == 0 || c.Args[0] != command {
				continue
			}
			if len(c.Command) != 0 {
				t.Fatalf("Deployment %s, container %s: command %q replaces the image's ENTRYPOINT /gw; give gw's arguments as args",
					d.Name, c.Name, c.Command)
			}
			flags, err := parseFlags(c.Args[1:])
			if err != nil {
				t.Fatalf("Deployment %s, container %s: args %q: %v", d.Name, c.Name, c.Args, err)
			}
			where := fmt.Sprintf("Deployment %s, container %s", d.Name, c.Name)
			if file, ok := flags["config"]; ok {
				m.configFlags(t, d, c, file, flags, where)
			}
			checkKnownFlags(t, command, flags, where)
			found = append(found, &workload{d: d, c: c, flags: flags})
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one Deployment running gw %s, found %d", command, len(found))
	}
	return found[0]
}

// configFlags adds to flags the keys of the -config file a container
// reads from a mounted ConfigMap (the command line wins, as in gw), after
// `gw config check` passed it. The ConfigMap must be mounted as a
// directory: a subPath mount never sees the ConfigMap change, and gw
// reloads the file when it does.
func (m *manifests) configFlags(t *testing.T, d *appsv1.Deployment, c *corev1.Container, file string, flags map[string]string, where string) {
	t.Helper()
	var cm *corev1.ConfigMap
	key := ""
	for _, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, file)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			t.Fatalf("%s: -config %s is mounted with a subPath, which never sees the ConfigMap change: mount the directory", where, file)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			key = rel
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			for _, x := range m.configMaps {
				if x.Name == v.ConfigMap.Name && x.Namespace == d.Namespace {
					cm = x
				}
			}
			if cm == nil {
				t.Fatalf("%s: volume %s names ConfigMap %s, which the manifests lack", where, v.Name, v.ConfigMap.Name)
			}
		}
	}
	if cm == nil {
		t.Fatalf("%s: -config %s is not in a mounted ConfigMap", where, file)
	}
	data, ok := cm.Data[key]
	if !ok {
		t.Fatalf("%s: ConfigMap %s has no key %s (-config %s)", where, cm.Name, key, file)
	}
	tmp := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	buildGW(t)
	if out, err := exec.Command(gwPath, "config", "check", tmp).CombinedOutput(); err != nil {
		t.Fatalf("%s: gw config check of ConfigMap %s key %s: %v\n%s", where, cm.Name, key, err, out)
	}
	var keys map[string]any
	if err := yaml.UnmarshalStrict([]byte(data), &keys); err != nil {
		t.Fatalf("%s: ConfigMap %s key %s: %v", where, cm.Name, key, err)
	}
	for k, v := range keys {
		if _, given := flags[k]; given {
			continue
		}
		switch v := v.(type) {
		case []any:
			var parts []string
			for _, x := range v {
				parts = append(parts, fmt.Sprint(x))
			}
			flags[k] = strings.Join(parts, ",")
		default:
			flags[k] = fmt.Sprint(v)
		}
	}
}

// parseFlags parses gw's flags as the flag package does, for flags that take
// a value: -name value, -name=value, --name value or --name=value.
func parseFlags(args []string) (map[string]string, error) {
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return nil, fmt.Errorf("%q is not a flag", a)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasValue := strings.Cut(name, "=")
		if !hasValue {
			if i+1 == len(args) {
				return nil, fmt.Errorf("flag -%s has no value", name)
			}
			i++
			value = args[i]
		}
		if _, dup := flags[name]; dup {
			return nil, fmt.Errorf("flag -%s given twice", name)
		}
		flags[name] = value
	}
	return flags, nil
}

var (
	gwOnce sync.Once
	gwDir  string // holds gwPath; TestMain removes it
	gwPath string
	gwErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if gwDir != "" {
		os.RemoveAll(gwDir)
	}
	os.Exit(code)
}

// gwFlagRE matches a flag's line in gw's usage: "  -name value   (ENV...)".
var gwFlagRE = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)\b`)

// checkKnownFlags fails on a flag that `gw command -h` does not list, so that
// a misspelled or removed flag fails here and not in a crash-looping pod. gw
// is built from ../cmd/gw, the source the Dockerfile builds.
func checkKnownFlags(t *testing.T, command string, flags map[string]string, where string) {
	t.Helper()
	buildGW(t)
	// gw CMD -h writes its usage (and may exit non-zero, as flag.ErrHelp does).
	out, _ := exec.Command(gwPath, command, "-h").CombinedOutput()
	known := map[string]bool{}
	for _, m := range gwFlagRE.FindAllStringSubmatch(string(out), -1) {
		known[m[1]] = true
	}
	if len(known) == 0 {
		t.Fatalf("gw %s -h lists no flags:\n%s", command, out)
	}
	for name := range flags {
		if !known[name] {
			t.Errorf("%s: gw %s has no flag -%s", where, command, name)
		}
	}
}

// buildGW builds gw from ../cmd/gw, the source the Dockerfile builds, once.
func buildGW(t *testing.T) {
	t.Helper()
	gwOnce.Do(func() {
		gwDir, gwErr = os.MkdirTemp("", "framegate-deploy-")
		if gwErr != nil {
			return
		}
		gwPath = filepath.Join(gwDir, "gw")
		out, err := exec.Command("go", "build", "-C", "..", "-o", gwPath, "./cmd/gw").CombinedOutput()
		if err != nil {
			gwErr = fmt.Errorf("go build ./cmd/gw: %v\n%s", err, out)
		}
	})
	if gwErr != nil {
		t.Fatal(gwErr)
	}
}

// port returns the port of a host:port flag.
func (w *workload) port(t *testing.T, flag string) int32 {
	t.Helper()
	v, ok := w.flags[flag]
	if !ok {
		t.Fatalf("Deployment %s: no -%s (gw's default binds 127.0.0.1, unreachable from other pods)", w.d.Name, flag)
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		t.Fatalf("Deployment %s: -%s %q: %v", w.d.Name, flag, v, err)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		t.Errorf("Deployment %s: -%s %q: listen on all addresses (0.0.0.0), or other pods and the kubelet cannot reach it", w.d.Name, flag, v)
	}
	return parsePort(t, port, fmt.Sprintf("Deployment %s: -%s %q", w.d.Name, flag, v))
}

func parsePort(t *testing.T, s, where string) int32 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		t.Fatalf("%s: port %q is not a port number", where, s)
	}
	return int32(n)
}

// duration returns the duration a flag gives.
func (w *workload) duration(t *testing.T, flag string) time.Duration {
	t.Helper()
	v, ok := w.flags[flag]
	if !ok {
		t.Fatalf("Deployment %s: give -%s explicitly: terminationGracePeriodSeconds is checked against it", w.d.Name, flag)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("Deployment %s: -%s %q: %v", w.d.Name, flag, v, err)
	}
	return d
}

// containerPort resolves a port of the container, by number or by the name
// of one of its ports.
func containerPort(t *testing.T, c *corev1.Container, p intstr.IntOrString, where string) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("%s: container %s has no port named %q", where, c.Name, p.StrVal)
	return 0
}

// declaresPort fails unless the container declares port n.
func declaresPort(t *testing.T, w *workload, n int32) {
	t.Helper()
	for _, cp := range w.c.Ports {
		if cp.ContainerPort == n && (cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP) {
			return
		}
	}
	t.Errorf("Deployment %s, container %s: port %d it listens on is not among its ports", w.d.Name, w.c.Name, n)
}

// checkGracePeriod fails unless the pod's terminationGracePeriodSeconds
// leaves gw its whole -shutdown-timeout after the preStop hook's sleep.
func checkGracePeriod(t *testing.T, w *workload) {
	t.Helper()
	shutdown := w.duration(t, "shutdown-timeout")
	var sleep time.Duration
	if lc := w.c.Lifecycle; lc != nil && lc.PreStop != nil {
		if lc.PreStop.Sleep == nil {
			t.Fatalf("Deployment %s: a preStop hook other than sleep: this test cannot tell how long it takes", w.d.Name)
		}
		sleep = time.Duration(lc.PreStop.Sleep.Seconds) * time.Second
	}
	grace := w.pod().TerminationGracePeriodSeconds
	if grace == nil {
		t.Fatalf("Deployment %s: no terminationGracePeriodSeconds (the default 30s is no more than gw's default -shutdown-timeout)", w.d.Name)
	}
	if got := time.Duration(*grace) * time.Second; got <= sleep+shutdown {
		t.Errorf("Deployment %s: terminationGracePeriodSeconds %v is not above the preStop sleep %v plus -shutdown-timeout %v: calls in flight would be killed",
			w.d.Name, got, sleep, shutdown)
	}
}

// selects reports whether a Service's selector selects the workload's pods.
func selects(s *corev1.Service, w *workload) bool {
	return len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(w.podLabels())
}

// servicePortTo fails unless the Service has a port named name that the
// workload's container answers on port n.
func servicePortTo(t *testing.T, s *corev1.Service, w *workload, name string, n int32) corev1.ServicePort {
	t.Helper()
	for _, sp := range s.Spec.Ports {
		if sp.Name != name {
			continue
		}
		target := sp.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(sp.Port) // the default targetPort
		}
		where := fmt.Sprintf("Service %s, port %s", s.Name, name)
		if got := containerPort(t, w.c, target, where); got != n {
			t.Errorf("%s: targets port %d of Deployment %s, which listens on %d", where, got, w.d.Name, n)
		}
		return sp
	}
	t.Fatalf("Service %s: no port named %s", s.Name, name)
	return corev1.ServicePort{}
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	if len(m.namespaces) != 1 {
		t.Fatalf("want one Namespace, found %d", len(m.namespaces))
	}
	ns := m.namespaces[0].Name
	check := func(kind, name, namespace string) {
		if namespace != ns {
			t.Errorf("%s %s: namespace %q, want %q (the Namespace's)", kind, name, namespace, ns)
		}
	}
	for _, d := range m.deployments {
		check("Deployment", d.Name, d.Namespace)
		if d.Spec.Selector == nil {
			t.Errorf("Deployment %s: no selector", d.Name)
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: selector %v does not select its pod template's labels %v (%v)",
				d.Name, d.Spec.Selector, d.Spec.Template.Labels, err)
		}
	}
	for _, s := range m.services {
		check("Service", s.Name, s.Namespace)
	}
	for _, c := range m.configMaps {
		check("ConfigMap", c.Name, c.Namespace)
	}
}

func TestContainersUnprivileged(t *testing.T) {
	m := loadManifests(t)
	for _, d := range m.deployments {
		pod := &d.Spec.Template.Spec
		psc := pod.SecurityContext
		if psc == nil {
			psc = &corev1.PodSecurityContext{}
		}
		if pod.HostNetwork || pod.HostPID || pod.HostIPC {
			t.Errorf("Deployment %s: shares a host namespace", d.Name)
		}
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			where := fmt.Sprintf("Deployment %s, container %s", d.Name, c.Name)
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			nonRoot, uid := psc.RunAsNonRoot, psc.RunAsUser
			if sc.RunAsNonRoot != nil {
				nonRoot = sc.RunAsNonRoot
			}
			if sc.RunAsUser != nil {
				uid = sc.RunAsUser
			}
			if nonRoot == nil || !*nonRoot {
				t.Errorf("%s: runAsNonRoot is not true", where)
			}
			if uid != nil && *uid == 0 {
				t.Errorf("%s: runAsUser 0", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation is not false", where)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem is not true", where)
			}
			seccomp := psc.SeccompProfile
			if sc.SeccompProfile != nil {
				seccomp = sc.SeccompProfile
			}
			if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
				t.Errorf("%s: no RuntimeDefault (or Localhost) seccomp profile: the restricted Pod Security Standard refuses the pod", where)
			}
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					t.Errorf("%s: hostPort %d", where, p.HostPort)
				}
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: capabilities do not drop ALL", where)
			} else if len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: adds capabilities %v", where, sc.Capabilities.Add)
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[r]; !ok {
					t.Errorf("%s: no %s request", where, r)
				}
			}
			if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
				t.Errorf("%s: no memory limit", where)
			}
		}
	}
}

func TestGateway(t *testing.T) {
	m := loadManifests(t)
	gw := m.workload(t, "serve")
	httpPort := gw.port(t, "http-addr")
	grpcPort := gw.port(t, "grpc-addr")
	declaresPort(t, gw, httpPort)
	declaresPort(t, gw, grpcPort)

	where := "Deployment " + gw.d.Name
	rp := gw.c.ReadinessProbe
	if rp == nil || rp.HTTPGet == nil {
		t.Fatalf("%s: no httpGet readinessProbe", where)
	}
	if rp.HTTPGet.Path != "/healthz" {
		t.Errorf("%s: readinessProbe GETs %q, want /healthz", where, rp.HTTPGet.Path)
	}
	if p := containerPort(t, gw.c, rp.HTTPGet.Port, where+", readinessProbe"); p != httpPort {
		t.Errorf("%s: readinessProbe GETs port %d, but -http-addr listens on %d", where, p, httpPort)
	}
	if s := rp.HTTPGet.Scheme; s != "" && s != corev1.URISchemeHTTP {
		t.Errorf("%s: readinessProbe scheme %s without -tls-cert", where, s)
	}
	lp := gw.c.LivenessProbe
	switch {
	case lp == nil:
		t.Errorf("%s: no livenessProbe", where)
	case lp.HTTPGet != nil:
		if p := containerPort(t, gw.c, lp.HTTPGet.Port, where+", livenessProbe"); p != httpPort {
			t.Errorf("%s: livenessProbe GETs port %d, but -http-addr listens on %d", where, p, httpPort)
		}
	case lp.GRPC != nil:
		if lp.GRPC.Port != grpcPort {
			t.Errorf("%s: livenessProbe checks gRPC health on port %d, but -grpc-addr listens on %d", where, lp.GRPC.Port, grpcPort)
		}
	case lp.TCPSocket != nil:
		if p := containerPort(t, gw.c, lp.TCPSocket.Port, where+", livenessProbe"); p != httpPort && p != grpcPort {
			t.Errorf("%s: livenessProbe connects to port %d, which gw serve does not listen on", where, p)
		}
	default:
		t.Errorf("%s: livenessProbe is neither httpGet, grpc nor tcpSocket", where)
	}
	if v, ok := gw.flags["native-addr"]; !ok || v != "" {
		t.Errorf("%s: want -native-addr '' (a remote -backend does not use the embedded store's listener)", where)
	}
	checkGracePeriod(t, gw)
	for _, v := range gw.pod().Volumes {
		if v.EmptyDir == nil && v.ConfigMap == nil && v.Secret == nil {
			t.Errorf("%s: volume %s is not an emptyDir, a ConfigMap or a Secret: the gateway keeps no state", where, v.Name)
		}
	}

	// The gateway's Service.
	var svc *corev1.Service
	for _, s := range m.services {
		if s.Spec.ClusterIP != corev1.ClusterIPNone && selects(s, gw) {
			if svc != nil {
				t.Fatalf("Services %s and %s both select the gateway's pods", svc.Name, s.Name)
			}
			svc = s
		}
	}
	if svc == nil {
		t.Fatalf("no Service selects the gateway's pods %v", gw.podLabels())
	}
	if backend := m.workload(t, "backend"); selects(svc, backend) {
		t.Errorf("Service %s selects the backend's pods too", svc.Name)
	}
	servicePortTo(t, svc, gw, "grpc", grpcPort)
	servicePortTo(t, svc, gw, "http", httpPort)

	// Without a token, the HTTP listener answers only the names it is told.
	if _, token := gw.flags["auth-token-file"]; !token {
		allowed := strings.Split(gw.flags["allowed-host"], ",")
		ns := svc.Namespace
		for _, name := range []string{svc.Name, svc.Name + "." + ns, svc.Name + "." + ns + ".svc", svc.Name + "." + ns + ".svc." + clusterDomain} {
			if !slices.Contains(allowed, name) {
				t.Errorf("%s: -allowed-host lacks %s: REST requests for the Service's name would get 403", where, name)
			}
		}
	}
}

func TestBackendDiscovery(t *testing.T) {
	m := loadManifests(t)
	gw := m.workload(t, "serve")
	backend := m.workload(t, "backend")
	where := "Deployment " + backend.d.Name
	nativePort := backend.port(t, "native-addr")
	declaresPort(t, backend, nativePort)

	rp := backend.c.ReadinessProbe
	if rp == nil || rp.TCPSocket == nil {
		t.Fatalf("%s: no tcpSocket readinessProbe", where)
	}
	if p := containerPort(t, backend.c, rp.TCPSocket.Port, where+", readinessProbe"); p != nativePort {
		t.Errorf("%s: readinessProbe connects to port %d, but -native-addr listens on %d", where, p, nativePort)
	}
	checkGracePeriod(t, backend)

	// -data-dir is an emptyDir: the root filesystem is read-only.
	dataDir, ok := backend.flags["data-dir"]
	if !ok {
		t.Fatalf("%s: no -data-dir (the default ./gw-data is on the read-only root filesystem)", where)
	}
	mounted := false
	for _, vm := range backend.c.VolumeMounts {
		if filepath.Clean(vm.MountPath) != filepath.Clean(dataDir) {
			continue
		}
		mounted = !vm.ReadOnly
		for _, v := range backend.pod().Volumes {
			if v.Name == vm.Name && v.EmptyDir == nil {
				t.Errorf("%s: volume %s at -data-dir %s is not an emptyDir", where, v.Name, dataDir)
			}
		}
	}
	if !mounted {
		t.Errorf("%s: no writable volume mounted at -data-dir %s", where, dataDir)
	}

	// The gateway finds the backend's pods through a headless Service.
	target, ok := gw.flags["backend"]
	if !ok {
		t.Fatalf("Deployment %s: no -backend", gw.d.Name)
	}
	hostPort, ok := strings.CutPrefix(target, "dns:///")
	if !ok {
		t.Fatalf("Deployment %s: -backend %q is not dns:///name:port", gw.d.Name, target)
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatalf("Deployment %s: -backend %q: %v", gw.d.Name, target, err)
	}
	dnsPort := parsePort(t, port, "-backend "+target)

	var headless []*corev1.Service
	for _, s := range m.services {
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			headless = append(headless, s)
		}
	}
	if len(headless) != 1 {
		t.Fatalf("want one headless Service (clusterIP: None), found %d", len(headless))
	}
	svc := headless[0]
	if want := svc.Name + "." + svc.Namespace + ".svc." + clusterDomain; host != want {
		t.Errorf("Deployment %s: -backend %q resolves %s, but the headless Service's name is %s", gw.d.Name, target, host, want)
	}
	if !selects(svc, backend) {
		t.Errorf("Service %s: selector %v does not select the backend's pods %v", svc.Name, svc.Spec.Selector, backend.podLabels())
	}
	if selects(svc, gw) {
		t.Errorf("Service %s selects the gateway's pods too", svc.Name)
	}
	if svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: publishNotReadyAddresses would give the gateway backends that are not ready", svc.Name)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service %s: want one port, found %d", svc.Name, len(svc.Spec.Ports))
	}
	sp := servicePortTo(t, svc, backend, svc.Spec.Ports[0].Name, nativePort)
	// A headless Service's DNS name gives the pods' addresses, not the
	// Service's port: the gateway dials the port -backend names, which must
	// be the one the backend listens on.
	if dnsPort != sp.Port || dnsPort != nativePort {
		t.Errorf("-backend %q dials port %d; the headless Service's port is %d and the backend's -native-addr port %d",
			target, dnsPort, sp.Port, nativePort)
	}
}

// dockerInstruction is one instruction of a Dockerfile.
type dockerInstruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile reads a Dockerfile's instructions, joining continued lines
// and leaving comments out.
func parseDockerfile(t *testing.T, file string) []dockerInstruction {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, dockerInstruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends in a continued line", file)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, dockerfile)
	last := -1
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	if last < 0 {
		t.Fatalf("%s: no FROM", dockerfile)
	}
	final := ins[last:]
	from := strings.Fields(final[0].args)
	image := ""
	for _, f := range from {
		if !strings.HasPrefix(f, "--") { // --platform=...
			image = f
			break
		}
	}

	// The final stage runs as a user other than root: the last USER of the
	// stage says so, or else the image's own user (distroless :nonroot).
	user := ""
	var entrypoint string
	exposed := map[int32]bool{}
	for _, in := range final[1:] {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				n, _, _ := strings.Cut(p, "/")
				exposed[parsePort(t, n, fmt.Sprintf("%s:%d: EXPOSE", dockerfile, in.line))] = true
			}
		}
	}
	if user != "" {
		name, _, _ := strings.Cut(user, ":")
		if name == "root" || name == "0" || strings.Contains(name, "$") {
			t.Errorf("%s: the final stage runs as USER %s, want a non-root user (a literal one)", dockerfile, user)
		}
	} else if !(strings.HasPrefix(image, "gcr.io/distroless/") && strings.HasSuffix(image, ":nonroot")) {
		t.Errorf("%s:%d: the final stage FROM %s has no USER: it runs as root (use a distroless :nonroot image or a non-root USER)",
			dockerfile, final[0].line, image)
	}
	if entrypoint != `["/gw"]` {
		t.Errorf("%s: final stage ENTRYPOINT %s, want [\"/gw\"] (the manifests give gw's arguments as args)", dockerfile, entrypoint)
	}

	// Every port the manifests' containers listen on is exposed.
	m := loadManifests(t)
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				if !exposed[p.ContainerPort] {
					t.Errorf("%s: the final stage does not EXPOSE port %d of Deployment %s", dockerfile, p.ContainerPort, d.Name)
				}
			}
		}
	}

	// The build stage's Go is the release the Makefile pins.
	mk, err := os.ReadFile(makefile)
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`(?m)^export GOTOOLCHAIN := go(\S+)$`).FindSubmatch(mk)
	if pinned == nil {
		t.Fatalf("%s: no line export GOTOOLCHAIN := goX.Y.Z", makefile)
	}
	var goVersion string
	for _, in := range ins {
		if v, ok := strings.CutPrefix(in.args, "GO_VERSION="); ok && in.cmd == "ARG" {
			goVersion = v
		}
	}
	if goVersion != string(pinned[1]) {
		t.Errorf("%s: ARG GO_VERSION=%s, but the Makefile pins go%s: build the image with the release the tests run on",
			dockerfile, goVersion, pinned[1])
	}
}
