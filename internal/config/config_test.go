package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qmail.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	c, err := Load(write(t, ""), Defaults(false))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.Listen[0] != "127.0.0.1:2525" || c.Delivery.DefaultDelivery != "./Maildir/" || c.Log.Format != "plain" {
		t.Fatalf("defaults for an ordinary user = %+v", c)
	}
	if !c.SMTP.MayRelay(netip.MustParseAddr("127.0.0.9")) || !c.SMTP.MayRelay(netip.MustParseAddr("::1")) {
		t.Error("loopback may not relay by default")
	}
	if c.SMTP.MayRelay(netip.MustParseAddr("192.0.2.1")) {
		t.Error("a foreign address may relay by default")
	}
	root, _ := Load(write(t, ""), Defaults(true))
	if root.Delivery.DefaultDelivery != "./Mailbox" || root.SMTP.Listen[0] != "0.0.0.0:25" {
		t.Fatalf("defaults as root = %+v", root)
	}
}

func TestValuesReplaceDefaults(t *testing.T) {
	c, err := Load(write(t, `
[smtp]
listen = ["127.0.0.1:2600", "[::1]:2600"]
relay_from = ["10.0.0.0/8"]
[delivery]
defaultdelivery = "./Mailbox"
[log]
format = "json"
`), Defaults(false))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SMTP.Listen) != 2 || c.Delivery.DefaultDelivery != "./Mailbox" || c.Log.Format != "json" {
		t.Fatalf("loaded %+v", c)
	}
	if c.SMTP.MayRelay(netip.MustParseAddr("127.0.0.1")) || !c.SMTP.MayRelay(netip.MustParseAddr("10.1.2.3")) {
		t.Error("relay_from did not replace the default list")
	}
	if !c.SMTP.MayRelay(netip.MustParseAddr("::ffff:10.1.2.3")) {
		t.Error("an IPv4-mapped client is not matched against an IPv4 network")
	}
}

func TestBadFilesNameTheFileAndProblem(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"a syntax error gives its line", "[smtp]\nlisten = [\"x\"\n", []string{"qmail.toml line"}},
		{"an unknown key is named", "[smtp]\nlisten = [\"127.0.0.1:25\"]\nrelay_form = []\n", []string{"unknown key smtp.relay_form"}},
		{"an unknown table is named", "[smpt]\nlisten = 1\n", []string{"unknown key smpt"}},
		{"a wrong type is refused", "[smtp]\nlisten = \"127.0.0.1:25\"\n", []string{"qmail.toml"}},
		{"a bad network is refused", "[smtp]\nrelay_from = [\"10.0.0.0/33\"]\n", []string{"relay_from", "10.0.0.0/33"}},
		{"a bad listen address is refused", "[smtp]\nlisten = [\"localhost\"]\n", []string{"smtp.listen", "localhost"}},
		{"a bad default delivery is refused", "[delivery]\ndefaultdelivery = \"Mailbox\"\n", []string{"defaultdelivery"}},
		{"a bad log format is refused", "[log]\nformat = \"xml\"\n", []string{"log.format"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, c.text), Defaults(false))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range append(c.want, "qmail.toml") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

func TestMissingFileIsAnError(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "qmail.toml"), Defaults(false)); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestTemplateLoadsBackToTheSameSettings(t *testing.T) {
	for _, asRoot := range []bool{false, true} {
		def := Defaults(asRoot)
		c, err := Load(write(t, Template(def)), Defaults(!asRoot))
		if err != nil {
			t.Fatal(err)
		}
		if c.SMTP.Listen[0] != def.SMTP.Listen[0] || c.Delivery.DefaultDelivery != def.Delivery.DefaultDelivery {
			t.Errorf("template for asRoot=%v loads as %+v", asRoot, c)
		}
	}
}
