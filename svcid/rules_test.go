package svcid_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/svcid"
)

func TestDefaultRulesParse(t *testing.T) {
	r := svcid.DefaultRules()
	if len(r.Rules()) < 20 {
		t.Errorf("%d rules", len(r.Rules()))
	}
	for port, want := range map[uint16]string{80: "http", 443: "tls", 993: "tls-greeting", 6379: "redis", 5432: "postgresql", 22: "", 25: ""} {
		if got := r.FirstProbe(port); got != want {
			t.Errorf("FirstProbe(%d) = %q, want %q", port, got, want)
		}
	}
}

func TestRulesMatch(t *testing.T) {
	r := svcid.DefaultRules()
	cases := []struct {
		service                string
		fields                 map[string]string
		product, version, info string
		ok                     bool
	}{
		{"ssh", map[string]string{"software": "OpenSSH_9.2p1", "comments": "Debian-2+deb12u10"}, "OpenSSH", "9.2p1", "Debian-2+deb12u10", true},
		{"ssh", map[string]string{"software": "Cisco-1.25"}, "Cisco", "1.25", "", true},
		{"ssh", map[string]string{"software": "weird thing"}, "weird thing", "", "", true},
		{"http", map[string]string{"server": "nginx"}, "nginx", "", "", true},
		{"http", map[string]string{"server": "nginx/1.22.1"}, "nginx", "1.22.1", "", true},
		{"http", map[string]string{"server": "Apache/2.4.62 (Debian)"}, "Apache httpd", "2.4.62", "Debian", true},
		{"http", map[string]string{"title": "x"}, "", "", "", false},
		{"smtp", map[string]string{"banner": "mail.example ESMTP Exim 4.96 Mon, 1 Dec 2026"}, "Exim smtpd", "4.96", "", true},
		{"smtp", map[string]string{"banner": "mail.example ESMTP Postfix (Debian/GNU)"}, "Postfix smtpd", "", "Debian/GNU", true},
		{"mysql", map[string]string{"server_version": "5.5.5-10.11.6-MariaDB-0+deb12u1"}, "MariaDB", "10.11.6", "", true},
		{"mysql", map[string]string{"server_version": "8.0.36-0ubuntu0.22.04.1"}, "MySQL", "8.0.36", "", true},
		{"redis", map[string]string{"redis_version": "7.0.15", "redis_mode": "standalone"}, "Redis key-value store", "7.0.15", "standalone", true},
		{"redis", map[string]string{"error": "NOAUTH Authentication required."}, "Redis key-value store", "", "NOAUTH", true},
		{"ftp", map[string]string{"server": "nginx"}, "", "", "", false}, // a rule applies only to its service
	}
	for _, c := range cases {
		p, v, i, ok := r.Match(c.service, c.fields)
		if p != c.product || v != c.version || i != c.info || ok != c.ok {
			t.Errorf("Match(%s, %v) = %q %q %q %v; want %q %q %q %v", c.service, c.fields, p, v, i, ok, c.product, c.version, c.info, c.ok)
		}
	}
}

func TestParseRulesErrors(t *testing.T) {
	cases := map[string]string{
		"match\tssh\tsoftware\t(\tX\t-\t-":      "pattern",
		"match\tssh\tsoftware\tx\tX\t$2\t-":     "groups",
		"match\tssh\tsoftware\tx":               "7 columns",
		"ports\thttp\t80,x":                     "bad port",
		"ports\tgopher\t70":                     "unknown probe",
		"ports\thttp\t80\nports\ttls\t80":       "already listed",
		"frobnicate\tx":                         "unknown line kind",
		"match\tssh\tsoftware\tx\t${oops\t-\t-": "unterminated",
	}
	for text, want := range cases {
		_, err := svcid.ParseRules(text)
		var re *svcid.RulesError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), want) || re.Line < 1 {
			t.Errorf("ParseRules(%q) = %v; want a *RulesError about %q", text, err, want)
		}
	}
}

// FuzzRules: any rules text either fails with a *RulesError or gives rules
// whose matching never panics and returns bounded strings.
func FuzzRules(f *testing.F) {
	f.Add(svcid.DefaultRulesText(), "ssh", "software", "OpenSSH_9.2p1")
	f.Add("match\t*\tbanner\t(a+)(b*)\t$1${banner}$2\t$2\t${x}", "x", "banner", "aaabbb")
	f.Add("ports\thttp\t1,2,3", "http", "server", "")
	f.Fuzz(func(t *testing.T, text, service, name, value string) {
		r, err := svcid.ParseRules(text)
		if err != nil {
			var re *svcid.RulesError
			if !errors.As(err, &re) && !strings.Contains(err.Error(), "token too long") {
				t.Fatalf("error %v is not a *RulesError", err)
			}
			return
		}
		p, v, i, _ := r.Match(service, map[string]string{name: value})
		for _, s := range []string{p, v, i} {
			if len(s) > 128 {
				t.Fatalf("%d bytes from a rule", len(s))
			}
		}
	})
}
