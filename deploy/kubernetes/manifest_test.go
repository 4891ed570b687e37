// Package kubernetes holds the test of the Kubernetes recipe: scan.yaml (an
// Indexed Job, one pod per shard) and merge.yaml (the Job that puts the shards
// together). There is no Kubernetes here: the test reads the manifests' fields, and
// runs the containers' command lines in the lab as the pods would run them.
package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
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

	"gopkg.in/yaml.v3"

	"github.com/fastscan/fastscan/deploy/deploytest"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
)

// object is every field the manifests use, of any kind: decoding with
// KnownFields refuses any other (a misspelt key that Kubernetes would reject).
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"` // ConfigMap
	Spec struct {
		// PersistentVolumeClaim
		AccessModes []string `yaml:"accessModes"`
		Resources   struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
		// Job
		CompletionMode       string `yaml:"completionMode"`
		Completions          *int   `yaml:"completions"`
		Parallelism          *int   `yaml:"parallelism"`
		BackoffLimit         *int   `yaml:"backoffLimit"`
		BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
		Template             struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	RestartPolicy string      `yaml:"restartPolicy"`
	Containers    []container `yaml:"containers"`
	Volumes       []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	SecurityContext struct {
		RunAsUser                *int  `yaml:"runAsUser"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

// readManifest decodes every document of file.
func readManifest(t *testing.T, file string) map[string]*object {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	objs := map[string]*object{}
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		objs[o.Kind+"/"+o.Metadata.Name] = &o
	}
	return objs
}

// completionIndexField is where Kubernetes keeps a pod's index of an Indexed Job.
const completionIndexField = "metadata.annotations['batch.kubernetes.io/job-completion-index']"

// recipe is what the test reads from the manifests.
type recipe struct {
	shards  int
	targets string // the ConfigMap's targets.txt
	scan    *object
	merge   *object
	scanC   container
	mergeC  container
	claim   string
}

// flagValue returns the value after flag in args, and whether it is there.
func flagValue(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

// readRecipe reads scan.yaml and merge.yaml and checks that they make one
// sharded scan: an Indexed Job with completions = parallelism = --shards, the
// shared seed, a file per index on a shared volume, and a merge Job reading
// exactly those files.
func readRecipe(t *testing.T) recipe {
	t.Helper()
	dir := filepath.Join(deploytest.Root(t), "deploy", "kubernetes")
	scan := readManifest(t, filepath.Join(dir, "scan.yaml"))
	merge := readManifest(t, filepath.Join(dir, "merge.yaml"))
	var r recipe
	cm, ok := scan["ConfigMap/fastscan-targets"]
	if !ok || cm.Data["targets.txt"] == "" {
		t.Fatal("scan.yaml: no ConfigMap fastscan-targets with targets.txt")
	}
	r.targets = cm.Data["targets.txt"]
	pvc, ok := scan["PersistentVolumeClaim/fastscan-results"]
	if !ok || !slices.Equal(pvc.Spec.AccessModes, []string{"ReadWriteMany"}) {
		t.Error("scan.yaml: no PersistentVolumeClaim fastscan-results writable from every node (ReadWriteMany)")
	}
	if r.scan, ok = scan["Job/fastscan-scan"]; !ok {
		t.Fatal("scan.yaml: no Job fastscan-scan")
	}
	if r.merge, ok = merge["Job/fastscan-merge"]; !ok {
		t.Fatal("merge.yaml: no Job fastscan-merge")
	}
	for _, j := range []*object{r.scan, r.merge} {
		if j.APIVersion != "batch/v1" || j.Spec.Template.Spec.RestartPolicy != "Never" || len(j.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("Job %s: apiVersion %q, restartPolicy %q, %d containers; want batch/v1, Never, one",
				j.Metadata.Name, j.APIVersion, j.Spec.Template.Spec.RestartPolicy, len(j.Spec.Template.Spec.Containers))
		}
	}
	s := r.scan.Spec
	if s.CompletionMode != "Indexed" {
		t.Errorf("scan Job: completionMode %q, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || s.Parallelism == nil || *s.Completions != *s.Parallelism {
		t.Fatalf("scan Job: completions %v, parallelism %v: want both, equal", s.Completions, s.Parallelism)
	}
	r.shards = *s.Completions
	r.scanC = s.Template.Spec.Containers[0]
	r.mergeC = r.merge.Spec.Template.Spec.Containers[0]
	cmd := append(slices.Clone(r.scanC.Command), r.scanC.Args...)
	if v, ok := flagValue(cmd, "--shards"); !ok || v != strconv.Itoa(r.shards) {
		t.Errorf("scan command %q: --shards %q, want %d (= completions)", cmd, v, r.shards)
	}
	if r.shards < 2 {
		t.Errorf("scan Job: %d shards, want a scan split at least two ways", r.shards)
	}
	if slices.Contains(cmd, "--shard") {
		t.Errorf("scan command %q has --shard: it would win over the pod's index", cmd)
	}
	if _, ok := flagValue(cmd, "--seed"); !ok {
		t.Errorf("scan command %q: no --seed: the shards must share it", cmd)
	}
	if f, _ := flagValue(cmd, "--format"); f != "jsonl" {
		t.Errorf("scan command %q: --format %q, want jsonl (what merge reads)", cmd, f)
	}
	for _, flag := range []string{"-o", "--resume-file"} {
		v, _ := flagValue(cmd, flag)
		if !strings.Contains(v, "$(JOB_COMPLETION_INDEX)") {
			t.Errorf("scan command: %s %q: want a file per index ($(JOB_COMPLETION_INDEX) in it)", flag, v)
		}
		if !onWritableMount(r.scanC, v) {
			t.Errorf("scan command: %s %q is not on a writable volume of the pod", flag, v)
		}
	}
	idx := false
	for _, e := range r.scanC.Env {
		idx = idx || e.Name == "JOB_COMPLETION_INDEX" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == completionIndexField
	}
	if !idx {
		t.Errorf("scan container: no JOB_COMPLETION_INDEX from %s", completionIndexField)
	}
	if !slices.Contains(r.scanC.SecurityContext.Capabilities.Add, "NET_RAW") {
		t.Error("scan container: no NET_RAW capability: no raw sockets")
	}
	// The image: the Dockerfile puts the binary where both commands run it.
	docker, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^COPY \S+ (\S+)$`).FindSubmatch(docker)
	if m == nil {
		t.Fatal("Dockerfile: no COPY of the binary")
	}
	for _, c := range []container{r.scanC, r.mergeC} {
		if len(c.Command) < 2 || c.Command[0] != string(m[1]) || c.Image != r.scanC.Image {
			t.Errorf("container %s: image %q, command %q; want image %q running %s", c.Name, c.Image, c.Command, r.scanC.Image, m[1])
		}
	}
	if r.mergeC.Command[1] != "merge" {
		t.Errorf("merge command %q: not fastscan merge", r.mergeC.Command)
	}
	// Both Jobs mount the same claim.
	claims := func(p podSpec) (names []string) {
		for _, v := range p.Volumes {
			if v.PersistentVolumeClaim != nil {
				names = append(names, v.PersistentVolumeClaim.ClaimName)
			}
		}
		return names
	}
	sc, mc := claims(r.scan.Spec.Template.Spec), claims(r.merge.Spec.Template.Spec)
	if len(sc) != 1 || !slices.Equal(sc, mc) || sc[0] != pvc.Metadata.Name {
		t.Errorf("volumes: scan Job claims %v, merge Job %v; want both %s", sc, mc, pvc.Metadata.Name)
	}
	r.claim = pvc.Metadata.Name
	// merge reads exactly the files the pods write.
	out, _ := flagValue(cmd, "-o")
	var want []string
	for i := range r.shards {
		want = append(want, expand(out, map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(i)}))
	}
	var got []string
	for _, a := range r.mergeC.Command[2:] {
		if strings.HasPrefix(a, "-") {
			break
		}
		got = append(got, a)
	}
	for _, flag := range []string{"-o", "-oX"} {
		if v, _ := flagValue(r.mergeC.Command, flag); !onWritableMount(r.mergeC, v) {
			t.Errorf("merge command: %s %q is not on a writable volume of the pod", flag, v)
		}
	}
	if slices.Sort(got); !slices.Equal(got, want) {
		t.Errorf("merge Job reads %q, the scan's pods write %q", got, want)
	}
	return r
}

// onWritableMount reports whether path lies on a volume c mounts read-write (the
// containers' root file systems are read-only).
func onWritableMount(c container, path string) bool {
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly && strings.HasPrefix(path, m.MountPath+"/") {
			return true
		}
	}
	return false
}

// expand replaces $(NAME) in s by env[NAME] as Kubernetes does in a container's
// command and args: an unknown name stays as it is, $$ is a single $.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i:], ')'); end > 0 {
				if v, ok := env[s[i+2:i+end]]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestExpand(t *testing.T) {
	env := map[string]string{"JOB_COMPLETION_INDEX": "3", "A": "x"}
	for in, want := range map[string]string{
		"/results/shard-$(JOB_COMPLETION_INDEX).jsonl": "/results/shard-3.jsonl",
		"$(A)$(A)-$(B)": "xx-$(B)", "$$(A)": "$(A)", "a$": "a$", "$(A": "$(A", "$x": "$x",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestManifests checks the manifests' fields without running anything.
func TestManifests(t *testing.T) {
	r := readRecipe(t)
	t.Logf("%d shards, image %s, volume %s", r.shards, r.scanC.Image, r.claim)
}

// pod is one container of the recipe run here: its command line with the
// volumes' paths mapped to local directories and /fastscan to the static binary.
type pod struct {
	bin    string
	mounts map[string]string // mountPath -> local directory
}

// command returns c's command line for this pod, with env expanded.
func (p pod) command(c container, env map[string]string) []string {
	var args []string
	for i, a := range append(slices.Clone(c.Command), c.Args...) {
		a = expand(a, env)
		if i == 0 {
			a = p.bin
		}
		for mount, local := range p.mounts {
			if a == mount || strings.HasPrefix(a, mount+"/") {
				a = local + strings.TrimPrefix(a, mount)
			}
		}
		args = append(args, a)
	}
	return args
}

// TestIndexedJobInLab runs the scan Job's container command line in the lab's
// scanner namespace once per index, all at once, with JOB_COMPLETION_INDEX set as
// Kubernetes sets it, then the merge Job's command line: the merged scan equals
// the lab's ground truth for the ConfigMap's targets and the command's ports, and
// a single unsharded scan of the same command line.
func TestIndexedJobInLab(t *testing.T) {
	r := readRecipe(t)
	l := labtest.Start(t)
	dir := t.TempDir()
	p := pod{bin: deploytest.BuildStatic(t), mounts: map[string]string{}}
	for _, c := range []container{r.scanC, r.mergeC} {
		for _, m := range c.VolumeMounts {
			local := filepath.Join(dir, m.Name)
			os.MkdirAll(local, 0o755)
			p.mounts[m.MountPath] = local
		}
	}
	for _, m := range r.scanC.VolumeMounts {
		if m.Name == "targets" {
			os.WriteFile(filepath.Join(p.mounts[m.MountPath], "targets.txt"), []byte(r.targets), 0o644)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := deploytest.WithoutShardEnv(os.Environ())

	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, r.shards)
	outs := make([][]byte, r.shards)
	for i := range r.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx := strconv.Itoa(i)
			args := p.command(r.scanC, map[string]string{"JOB_COMPLETION_INDEX": idx})
			cmd := l.Command(ctx, args[0], args[1:]...)
			cmd.Env = append(slices.Clone(env), "JOB_COMPLETION_INDEX="+idx)
			cmd.Dir = t.TempDir()
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pod %d: %v\n%s", i, err, outs[i])
		}
	}
	t.Logf("%d pods: %v", r.shards, time.Since(start).Round(time.Millisecond))

	margs := p.command(r.mergeC, nil)
	mcmd := exec.CommandContext(ctx, margs[0], margs[1:]...)
	mcmd.Env = env
	mcmd.Dir = t.TempDir()
	if out, err := mcmd.CombinedOutput(); err != nil {
		t.Fatalf("merge pod %q: %v\n%s", margs, err, out)
	} else if want := fmt.Sprintf("%d of %d shards", r.shards, r.shards); !strings.Contains(string(out), want) {
		t.Errorf("merge says %q, want %s", out, want)
	}
	mergedJSON, _ := flagValue(margs, "-o")
	mergedXML, _ := flagValue(margs, "-oX")
	found := deploytest.ReadFindings(t, mergedJSON)
	var prefixes []netip.Prefix
	for _, line := range strings.Split(r.targets, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			prefixes = append(prefixes, netip.MustParsePrefix(line))
		}
	}
	cmd := p.command(r.scanC, nil)
	portSpec, _ := flagValue(cmd, "-p")
	var ports []uint16
	for _, s := range strings.Split(portSpec, ",") {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			t.Fatalf("scan command -p %q: this test reads single ports only", portSpec)
		}
		ports = append(ports, uint16(n))
	}
	deploytest.CompareWithTruth(t, l.Truth(), found, prefixes, ports)
	doc, err := os.ReadFile(mergedXML)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, doc)

	// The same command line unsharded: without --shards and the index.
	// (Without --quiet: its summary says what went wrong if it differs.)
	i := slices.Index(cmd, "--shards")
	single := slices.Delete(slices.Clone(cmd), i, i+2)
	single = slices.DeleteFunc(single, func(a string) bool { return a == "--quiet" })
	for j := 1; j < len(single); j++ {
		switch single[j-1] {
		case "-o":
			single[j] = filepath.Join(dir, "single.jsonl")
		case "--resume-file":
			single[j] = filepath.Join(dir, "single.resume")
		}
	}
	one := l.Command(ctx, single[0], single[1:]...)
	one.Env = env
	one.Dir = t.TempDir()
	out, err := one.CombinedOutput()
	if err != nil {
		t.Fatalf("unsharded scan %q: %v\n%s", single, err, out)
	}
	deploytest.SameFindings(t, "merged shards", found, "unsharded scan", deploytest.ReadFindings(t, filepath.Join(dir, "single.jsonl")))
	if t.Failed() {
		t.Logf("unsharded scan: %s", out)
	}
}
