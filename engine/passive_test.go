package engine

import (
	"context"
	"io"
	"testing"

	"github.com/fastscan/fastscan/packet/packettest"
	"github.com/fastscan/fastscan/result"
)

// frameList is a FrameSource over frames held in memory, one nanosecond apart.
type frameList [][]byte

func (l *frameList) Next() ([]byte, int64, error) {
	if len(*l) == 0 {
		return nil, 0, io.EOF
	}
	f := (*l)[0]
	*l = (*l)[1:]
	return f, 1, nil
}

// TestPassiveKeepsOnlyAnswersToSYNs: in passive replay a SYN-ACK is an open port and
// a RST+ACK with sequence number 0 (RFC 793's answer to a SYN) a closed one; a
// RST+ACK that ends a connection (its own sequence number, as a connect scanner or a
// browser sends) is not a closed port of its sender, nor are a plain RST or a SYN.
func TestPassiveKeepsOnlyAnswersToSYNs(t *testing.T) {
	const scanner, target = 0xc6120001, 0xc6130005 // 198.18.0.1, 198.19.0.5
	flow := func(from uint32, fromPort uint16, to uint32, toPort uint16) packettest.Flow {
		return packettest.Flow{TargetIP: from, TargetPort: fromPort, LocalIP: to, LocalPort: toPort}
	}
	frames := frameList{
		packettest.SYNACK(t, flow(target, 22, scanner, 40001), 1001),
		packettest.RST(t, flow(target, 23, scanner, 40002), 2001), // seq 0: closed
		// The scanner aborting its connection to port 22 with RST+ACK.
		packettest.TCP(t, packettest.Segment{Flow: flow(scanner, 40001, target, 22), Seq: 1001, Ack: 0x7a11e001, Flags: 0x14}),
		// The scanner's kernel resetting a SYN-ACK it did not expect: RST, no ACK.
		packettest.TCP(t, packettest.Segment{Flow: flow(scanner, 40003, target, 80), Seq: 3001, Flags: 0x04}),
		// A SYN from the scanner.
		packettest.TCP(t, packettest.Segment{Flow: flow(scanner, 40004, target, 443), Seq: 4000, Flags: 0x02}),
		packettest.SYNACK(t, flow(target, 22, scanner, 40001), 1001), // a retransmission
	}
	var got []result.Result
	sum, err := Passive(context.Background(), &frames, nil, func(r *result.Result) error {
		got = append(got, *r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].IP != uint32ToAddr(target) || got[0].Port != 22 || got[0].State != result.Open ||
		got[1].IP != uint32ToAddr(target) || got[1].Port != 23 || got[1].State != result.Closed {
		t.Fatalf("results %+v, want %#x:22 open and %#x:23 closed", got, target, target)
	}
	if sum.Open != 1 || sum.Closed != 1 || sum.Duplicates != 1 || sum.Invalid != 1 {
		t.Errorf("summary open %d closed %d duplicates %d invalid %d, want 1, 1, 1, 1", sum.Open, sum.Closed, sum.Duplicates, sum.Invalid)
	}
}
