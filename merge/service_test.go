package merge

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/result"
)

// v1Shard is shard 0 of 2 of scan "cafe" as fastscan wrote it before schema
// version 2 (no service_method, no service identification): kept literally, so
// that the test does not depend on today's writer.
const v1Shard = `{"schema_version":1,"record":"scan","scan_id":"cafe","shard":0,"shards":2,"fastscan_version":"0.1.0","start":"2026-12-01T10:00:00Z"}
{"schema_version":1,"ip":"198.19.0.1","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"ssh","port_class":"system","timestamp":"2026-12-01T10:00:01Z"}
{"schema_version":1,"ip":"198.19.0.2","port":80,"proto":"tcp","state":"closed","reason":"reset","ttl":63,"service":"http","port_class":"system","timestamp":"2026-12-01T10:00:02Z"}
`

// TestMergeV1AndV2 merges a version 1 shard with a version 2 shard that has
// service identification, keeps every service field, and writes results that
// merge again to the same (and match the schema).
func TestMergeV1AndV2(t *testing.T) {
	ts := func(s int) int64 { return start.Add(time.Duration(s) * time.Second).UnixNano() }
	v2 := []result.Result{
		{IP: addr("198.19.0.3"), Port: 443, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64, TimeNanos: ts(3),
			Service: &result.Service{Name: "http", Method: "probed", Product: "nginx", Version: "1.22.1", Info: "Debian",
				Banner: `HTTP/1.1 200 OK\r\n"x"`, Spoke: true, TLS: &result.TLS{
					Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ALPN: "h2", SubjectCN: "web.lab", SANs: []string{"web.lab", "a.lab"},
					Issuer: "CN=lab CA", NotBefore: start.Add(-time.Hour), NotAfter: start.Add(24 * time.Hour), SHA256: strings.Repeat("ab", 32)}}},
		{IP: addr("198.19.0.3"), Port: 25, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64, TimeNanos: ts(4),
			Service: &result.Service{Name: "smtp", Method: "probed", Product: "OpenSMTPD", StartTLS: true, Banner: `220 lab ESMTP OpenSMTPD\r\n`, Spoke: true}},
		{IP: addr("198.19.0.4"), Port: 8080, Proto: result.TCP, State: result.Open, Reason: result.ReasonNoService, TTL: 64, TimeNanos: ts(5),
			Service: &result.Service{Name: "http-alt", Method: "table", Error: "connection reset by peer"}},
		{IP: addr("198.19.0.4"), Port: 2222, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64, TimeNanos: ts(6),
			Service: &result.Service{Name: "ssh", Method: "probed", Spoke: true}},
		{IP: addr("198.19.0.5"), Port: 53, Proto: result.UDP, State: result.Open, Reason: result.ReasonUDPResponse, TTL: 64, TimeNanos: ts(7)},
	}
	m, err := Merge([]Input{{"v1", strings.NewReader(v1Shard)}, {"v2", bytes.NewReader(jsonl(v2, "cafe", Shard{1, 2}))}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Count != 2 || len(m.Missing) != 0 || len(m.Results) != 2+len(v2) {
		t.Fatalf("count %d, missing %v, %d results", m.Count, m.Missing, len(m.Results))
	}
	want := append([]result.Result{
		{IP: addr("198.19.0.1"), Port: 22, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64, TimeNanos: ts(1)},
		{IP: addr("198.19.0.2"), Port: 80, Proto: result.TCP, State: result.Closed, Reason: result.ReasonReset, TTL: 63, TimeNanos: ts(2)},
	}, v2[1], v2[0], v2[3], v2[2], v2[4])
	for i := range want {
		if !reflect.DeepEqual(m.Results[i], want[i]) {
			t.Errorf("result %d:\n%+v %+v\nwant\n%+v %+v", i, m.Results[i], m.Results[i].Service, want[i], want[i].Service)
		}
	}

	// Written again (version 2), the merged results match the schema and merge
	// to the same.
	var buf bytes.Buffer
	w := output.NewJSONL(&buf, nil)
	for i := range m.Results {
		w.Write(&m.Results[i])
	}
	w.Close()
	outputtest.NewValidator(t).ValidateLines(t, buf.Bytes())
	again, err := Merge([]Input{{"merged", &buf}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Results, m.Results) {
		t.Errorf("merged again:\n%+v\nwant\n%+v", again.Results, m.Results)
	}
}

// addr parses an address the test spells out.
func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
