package engine

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
)

// TestFakeScansAsNobody runs the whole-scan tests against linktest (retries,
// cool-downs, interruption, host status, failures) again as the unprivileged user
// nobody with no capabilities: the engine's logic needs no root and no raw socket.
// (Run as a user already, the tests above prove it by themselves.)
func TestFakeScansAsNobody(t *testing.T) {
	if os.Getenv("FASTSCAN_AS_NOBODY") == "1" || testing.Short() {
		t.Skip("already the unprivileged run")
	}
	citest.RequireRoot(t) // to become the unprivileged user
	setpriv := citest.RequireTool(t, "setpriv")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "engine.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		"--bounding-set=-all", bin, "-test.run", "^TestFake", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FASTSCAN_AS_NOBODY=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	for _, name := range []string{"TestFakeScanExact", "TestFakeRetries", "TestFakeCoolDown", "TestFakeInterrupt", "TestFakeHostStatus", "TestFakeFailures",
		"TestFakeConnectExact", "TestFakeConnectRetries", "TestFakeConnectInterrupt"} {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass as nobody:\n%s", name, out)
		}
	}
}
