package labtest

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
)

// StartRealServers requires root and the real servers' programs, brings a
// lab up (Start) with its real servers' host (lab.StartRealServers), and
// stops the servers when the test ends, logging their logs if it failed.
func StartRealServers(t *testing.T) (*lab.Lab, *lab.RealServers) {
	t.Helper()
	citest.RequireRoot(t)
	for _, tool := range []string{"sshd", "nginx", "redis-server", "smtpd", "dpkg-query", "ssh-keygen"} {
		citest.RequireTool(t, tool)
	}
	l := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := l.StartRealServers(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("real servers: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("servers' logs:\n%s", rs.Logs())
		}
		if err := rs.Stop(); err != nil {
			t.Errorf("stop real servers: %v", err)
		}
	})
	return l, rs
}

// SelfReport runs a command and returns the first match of re's group 1 in
// its output: what an installed package says of itself.
func SelfReport(t *testing.T, re string, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	m := regexp.MustCompile(re).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("%s %s: %v, output %q does not match %s", name, strings.Join(args, " "), err, out, re)
	}
	return m[1]
}

// DebianVersion splits an installed Debian package's version
// "[epoch:]upstream-revision".
func DebianVersion(t *testing.T, pkg string) (upstream, revision string) {
	t.Helper()
	v := SelfReport(t, `^(\S+)$`, "dpkg-query", "-W", "-f", "${Version}", pkg)
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return v, ""
	}
	return v[:i], v[i+1:]
}
