package config_test

import (
	"slices"
	"testing"
)

func TestTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  string // AUTHD_TRUSTED_PROXIES
		file string
		want []string
	}{
		{name: "default: none", want: nil},
		{name: "flag", args: []string{"--trusted-proxies", " 10.0.0.0/8, 2001:db8::/32 "}, want: []string{"10.0.0.0/8", "2001:db8::/32"}},
		{name: "one address", args: []string{"--trusted-proxies", "192.0.2.7,::ffff:198.51.100.1,2001:db8::1"}, want: []string{"192.0.2.7/32", "198.51.100.1/32", "2001:db8::1/128"}},
		{name: "host bits masked", args: []string{"--trusted-proxies", "10.1.2.3/8"}, want: []string{"10.0.0.0/8"}},
		{name: "env", env: "172.16.0.0/12", want: []string{"172.16.0.0/12"}},
		{name: "file list", file: "trusted-proxies:\n  - 10.0.0.0/8\n  - fd00::/8\n", want: []string{"10.0.0.0/8", "fd00::/8"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := secrets()
			if tt.env != "" {
				env["AUTHD_TRUSTED_PROXIES"] = tt.env
			}
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, tt.file))
			}
			cfg, err := load(t, env, args...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range cfg.TrustedProxies {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("TrustedProxies = %v, want %v", got, tt.want)
			}
			for _, p := range cfg.TrustedProxies {
				if p != p.Masked() || !p.IsValid() {
					t.Errorf("prefix %v is not canonical", p)
				}
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0.0/8,nope", "fe80::1%eth0", "10.0.0/8"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			_, err := load(t, secrets(), "--trusted-proxies", bad)
			assertOneLineError(t, err, "--trusted-proxies: invalid CIDR ", "")
		})
	}
}

func TestLoginSettingsValidation(t *testing.T) {
	for _, tt := range []struct {
		args        []string
		prefix, has string
	}{
		{[]string{"--password-hash-memory", "0"}, "--password-hash-memory: ", "at least one password hash"},
		// the default argon2-memory is 19456 KiB: 18 MiB cannot hold one
		{[]string{"--password-hash-memory", "18"}, "--password-hash-memory: ", "19456 KiB"},
		{[]string{"--password-hash-memory", "64", "--argon2-memory", "131072"}, "--password-hash-memory: ", "131072 KiB"},
		{[]string{"--password-hash-per-ip", "0"}, "--password-hash-per-ip: ", "between 1 and 1000000"},
		{[]string{"--login-username-per-minute", "0"}, "--login-username-per-minute: ", "between 1 and 1000000"},
		{[]string{"--login-username-burst", "-1"}, "--login-username-burst: ", "between 1 and 1000000"},
		{[]string{"--login-ip-per-minute", "0"}, "--login-ip-per-minute: ", "between 1 and 1000000"},
		{[]string{"--login-ip-burst", "0"}, "--login-ip-burst: ", "between 1 and 1000000"},
		{[]string{"--login-ip-burst", "1000001"}, "--login-ip-burst: ", "between 1 and 1000000"},
	} {
		_, err := load(t, secrets(), tt.args...)
		assertOneLineError(t, err, tt.prefix, tt.has)
	}
	if _, err := load(t, secrets(), "--password-hash-memory", "19"); err != nil {
		t.Errorf("a budget of exactly one default hash: %v", err)
	}
}
