package privdrop

import (
	"testing"
)

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		want     Creds
		wantFail bool
	}{
		{name: "no sudo", want: Creds{UID: Nobody, GID: Nobody}},
		{name: "sudo", env: map[string]string{"SUDO_UID": "1000", "SUDO_GID": "1001"}, want: Creds{UID: 1000, GID: 1001, FromSudo: true}},
		{name: "sudo without gid", env: map[string]string{"SUDO_UID": "1000"}, want: Creds{UID: 1000, GID: Nobody, FromSudo: true}},
		{name: "sudo with group root", env: map[string]string{"SUDO_UID": "1000", "SUDO_GID": "0"}, want: Creds{UID: 1000, GID: Nobody, FromSudo: true}},
		{name: "root ran sudo", env: map[string]string{"SUDO_UID": "0", "SUDO_GID": "0"}, want: Creds{UID: Nobody, GID: Nobody}},
		{name: "gid without uid", env: map[string]string{"SUDO_GID": "1000"}, want: Creds{UID: Nobody, GID: Nobody}},
		{name: "bad uid", env: map[string]string{"SUDO_UID": "alice"}, wantFail: true},
		{name: "negative uid", env: map[string]string{"SUDO_UID": "-1"}, wantFail: true},
		{name: "uid -1 as unsigned", env: map[string]string{"SUDO_UID": "4294967295"}, wantFail: true},
		{name: "uid above 32 bits", env: map[string]string{"SUDO_UID": "4294967296"}, wantFail: true},
		{name: "bad gid", env: map[string]string{"SUDO_UID": "1000", "SUDO_GID": "x"}, wantFail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Choose(func(k string) string { return tc.env[k] })
			if tc.wantFail {
				if err == nil {
					t.Fatalf("Choose = %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Choose = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestResultNothing(t *testing.T) {
	if !(Result{AllThreads: true}).Nothing() || (Result{Switched: true}).Nothing() || (Result{Dropped: true}).Nothing() {
		t.Fatal("Nothing is true exactly when neither Switched nor Dropped")
	}
}
