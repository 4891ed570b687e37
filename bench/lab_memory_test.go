package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// BenchmarkLabMemory scans the lab with the real fastscan binary and reports its peak
// resident memory (the kernel's maxrss of the process) and the answers it recorded,
// for scans where few targets answer and scans where every target does. Run it with
// -benchtime=1x: each iteration is one scan.
//
//	sudo go test -run '^$' -bench LabMemory -benchtime=1x ./bench/
//
// With FASTSCAN_COMPARE naming another fastscan binary (a build of main from before
// the target table followed the answers, say), every iteration also runs that binary
// on the same scan right after and reports its peak and the ratio new/old:
//
//	FASTSCAN_COMPARE=/tmp/fastscan-old sudo -E go test -run '^$' -bench LabMemory -benchtime=1x -count=3 ./bench/
//
// The scans (lab: 198.19.0.0/17 answers every port, open or closed; 198.19.128.0/18 is
// blackholed):
//
//   - SilentAllPorts: 198.19.128.0/18 x 1-65535 (2^30 targets), stopped after 8 s:
//     nothing answers;
//   - AnsweringAllPorts: 198.19.0.0/17 x 1-65535 (2^31 targets), stopped after 8 s:
//     every probe sent is answered, over a space whose bitmap would be 256 MiB;
//   - Answering17x64: 198.19.0.0/17 x 1-64 (2,097,152 targets), to the end: every
//     target answers, the table is full;
//   - Silent18x64: 198.19.128.0/18 x 1-64 (1,048,576 targets), to the end, with its
//     retry pass: nothing answers.
func BenchmarkLabMemory(b *testing.B) {
	citest.RequireRoot(b)
	bin := filepath.Join(b.TempDir(), "fastscan")
	build := exec.Command("go", "build", "-o", bin, "../cmd/fastscan")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building fastscan: %v\n%s", err, out)
	}
	compare := os.Getenv("FASTSCAN_COMPARE")
	l := labtest.Start(b)
	cases := []struct {
		name string
		stop time.Duration // 0: to the end
		args []string
	}{
		{"SilentAllPorts", 8 * time.Second, []string{"198.19.128.0/18", "-p-", "-r", "300000"}},
		{"AnsweringAllPorts", 8 * time.Second, []string{"198.19.0.0/17", "-p-", "-r", "300000"}},
		{"Answering17x64", 0, []string{"198.19.0.0/17", "-p", "1-64", "-r", "300000"}},
		{"Silent18x64", 0, []string{"198.19.128.0/18", "-p", "1-64", "-r", "300000", "--wait", "1s"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				peak, answers := memoryScan(b, l, bin, c.args, c.stop)
				b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
				b.ReportMetric(float64(answers), "answers")
				if compare != "" {
					oldPeak, oldAnswers := memoryScan(b, l, compare, c.args, c.stop)
					b.ReportMetric(float64(oldPeak)/(1<<20), "old-peak-MiB")
					b.ReportMetric(float64(oldAnswers), "old-answers")
					b.ReportMetric(float64(peak)/float64(oldPeak), "new/old")
				}
			}
		})
	}
}

// memoryScan runs one scan in the lab, interrupted after stop if stop is not 0, and
// returns the peak resident memory of the process in bytes and the answers (open,
// closed and answered filtered targets) its summary reports.
func memoryScan(b *testing.B, l *lab.Lab, bin string, args []string, stop time.Duration) (peak uint64, answers uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := b.TempDir()
	cmd := l.Command(ctx, bin, append(args, "--format", "jsonl", "-o", filepath.Join(dir, "out.jsonl"))...)
	cmd.Dir = dir // its checkpoint goes there, not into bench/
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if stop > 0 {
		time.Sleep(stop)
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			b.Fatal(err)
		}
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !(stop > 0 && errors.As(err, &exit) && exit.ExitCode() == 130) {
		b.Fatalf("fastscan %v: %v\n%s", args, err, stderr.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no resource usage of the scan")
	}
	count := func(re string) uint64 {
		m := regexp.MustCompile(re).FindStringSubmatch(stderr.String())
		if m == nil {
			b.Fatalf("no %q in the summary:\n%s", re, stderr.String())
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
	answers = count(`open (\d+),`) + count(`closed (\d+),`) + count(`filtered (\d+)`)
	if m := regexp.MustCompile(`\((\d+) no response\)`).FindStringSubmatch(stderr.String()); m != nil {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		answers -= n
	}
	return uint64(ru.Maxrss) * 1024, answers
}
