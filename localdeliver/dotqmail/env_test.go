package dotqmail

import (
	"slices"
	"strings"
	"testing"
)

func TestEnvHoldsEveryVariableInOrder(t *testing.T) {
	d := Delivery{User: "joe", Home: "/home/joe", Local: "joe-List-x", Domain: "mail.example.org",
		Sender: "a@b", NewSender: "joe-List-owner@mail.example.org", Ext: "List-x"}
	tg := Target{Name: ".qmail-list-default", HasDefault: true, Default: "x"}
	got := Env(d, tg, "Delivered-To: joe-List-x@mail.example.org\n", "Return-Path: <a@b>\n", "From a@b Thu Jan 01 00:00:00 1970\n")
	want := []string{
		"USER=joe",
		"HOME=/home/joe",
		"LOCAL=joe-List-x",
		"HOST=mail.example.org",
		"HOST2=mail.example",
		"HOST3=mail",
		"HOST4=mail",
		"RECIPIENT=joe-List-x@mail.example.org",
		"SENDER=a@b",
		"NEWSENDER=joe-List-owner@mail.example.org",
		"EXT=List-x",
		"EXT2=x",
		"EXT3=",
		"EXT4=",
		"DTLINE=Delivered-To: joe-List-x@mail.example.org\n",
		"RPLINE=Return-Path: <a@b>\n",
		"UFLINE=From a@b Thu Jan 01 00:00:00 1970\n",
		"DEFAULT=x",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Env =\n%q\nwant\n%q", got, want)
	}
}

func TestEnvSetsDefaultOnlyForADefaultFile(t *testing.T) {
	tests := []struct {
		name string
		t    Target
		want string // "" for absent
	}{
		{"an exact file sets no DEFAULT", Target{Name: ".qmail-foo"}, ""},
		{"no file at all sets no DEFAULT", Target{}, ""},
		{"a default file sets DEFAULT", Target{Name: ".qmail-default", HasDefault: true, Default: "Foo"}, "DEFAULT=Foo"},
		{"an empty DEFAULT is still set", Target{Name: ".qmail-a-default", HasDefault: true}, "DEFAULT="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			for _, kv := range Env(Delivery{}, tt.t, "", "", "") {
				if strings.HasPrefix(kv, "DEFAULT=") {
					got = kv
				}
			}
			if got != tt.want {
				t.Errorf("DEFAULT entry = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEnvHostAndExtParts(t *testing.T) {
	tests := []struct {
		name       string
		host, ext  string
		h2, h3, h4 string
		e2, e3, e4 string
	}{
		{"a host with many dots loses one part each time", "a.b.c.d.e", "", "a.b.c.d", "a.b.c", "a.b", "", "", ""},
		{"a host with no dot stays whole", "localhost", "", "localhost", "localhost", "localhost", "", "", ""},
		{"a host with too few dots stops at its first part", "a.b", "", "a", "a", "a", "", "", ""},
		{"an empty host stays empty", "", "", "", "", "", "", "", ""},
		{"an extension with many dashes loses one part each time", "x", "a-b-c-d-e", "x", "x", "x", "b-c-d-e", "c-d-e", "d-e"},
		{"an extension without dashes gives empty parts", "x", "abc", "x", "x", "x", "", "", ""},
		{"a trailing dash gives an empty part", "x", "a-", "x", "x", "x", "", "", ""},
		{"empty parts between dashes are kept", "x", "a--b", "x", "x", "x", "-b", "b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for _, kv := range Env(Delivery{Domain: tt.host, Ext: tt.ext}, Target{}, "", "", "") {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			got := []string{env["HOST2"], env["HOST3"], env["HOST4"], env["EXT2"], env["EXT3"], env["EXT4"]}
			want := []string{tt.h2, tt.h3, tt.h4, tt.e2, tt.e3, tt.e4}
			if !slices.Equal(got, want) {
				t.Errorf("HOST2-4, EXT2-4 of %q, %q = %q, want %q", tt.host, tt.ext, got, want)
			}
		})
	}
}
