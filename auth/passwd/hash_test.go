package passwd

import (
	"strings"
	"testing"
)

// The password of every vector.
const vectorPassword = "correct horse"

// Vectors made by other implementations than the one that checks them:
// argon2id by the reference argon2 command (Debian's argon2 package),
// the crypt hashes by libxcrypt through mkpasswd (Debian's whois).
var vectors = []struct {
	name, hash string
}{
	// echo -n 'correct horse' | argon2 gqmailsaltgqmail -id -t 2 -k 19456 -p 1 -l 32 -e
	{"argon2id with gqmail's parameters", "$argon2id$v=19$m=19456,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo"},
	// echo -n 'correct horse' | argon2 dovecotsalt12345 -id -t 3 -k 65536 -p 1 -l 32 -e
	{"argon2id with Dovecot's parameters", "$argon2id$v=19$m=65536,t=3,p=1$ZG92ZWNvdHNhbHQxMjM0NQ$HN236kMMs4zNMfUDL+QDlXpuaVzhbGCGSRTI6zFRIuU"},
	// mkpasswd -s -m bcrypt -R 5
	{"bcrypt $2b$", "$2b$05$VWdTuulkfLz3y.H.imbbwOax4hVHGWz5zRRdxLNe7E.rt/qmad2/a"},
	// the same hash as PHP writes it: $2y$ is $2b$ under another name
	{"bcrypt $2y$", "$2y$05$VWdTuulkfLz3y.H.imbbwOax4hVHGWz5zRRdxLNe7E.rt/qmad2/a"},
	// mkpasswd -s -m bcrypt-a -R 6
	{"bcrypt $2a$", "$2a$06$os2WQhERfjeQUqzAi3Fsce.l6Ma7JGw.c66uOExIn5pySawxkqTaS"},
	// mkpasswd -s -m bcrypt -R 10
	{"bcrypt cost 10", "$2b$10$RyQe1HdHSuWx3hV9g.c8UuI0i3r1mwYY7cT5Hu6TIdJZ4ie3W2Xuq"},
	// mkpasswd -s -m sha-512 -S gqmailsalt12345
	{"SHA512-CRYPT", "$6$gqmailsalt12345$gLVnF1tVtFr5PjiQ0w0s.EJpVFNg8QIGpHkmwWnbtAKvgClNic4vJ.kTN0pjNJQdlv1mKVU2Mk66ZWgCvNegM."},
	// mkpasswd -s -m sha-512 -R 10000 -S roundsalt
	{"SHA512-CRYPT with rounds", "$6$rounds=10000$roundsalt$lu7Rcrwbzvc4i3UU0le05F9a9bmjWI6qZ3W01cRCxB0EHJ8hLrRWzqCTVE5ceVSQRShxY.Ag20d5tJkF3rdy/."},
	// mkpasswd -s -m sha-256 -S gqmailsalt
	{"SHA256-CRYPT", "$5$gqmailsalt$TstB5x2EGbHE0goMRFJxCSK5osGNxFWD1NH8ZkosuiC"},
}

func TestVectorsOfEveryKindVerify(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			if err := CheckHash(v.hash); err != nil {
				t.Fatalf("CheckHash: %v", err)
			}
			if ok, err := verify(v.hash, vectorPassword); !ok || err != nil {
				t.Errorf("the right password: %v, %v", ok, err)
			}
			for _, wrong := range []string{"", "correct horsf", "Correct horse", "correct horse "} {
				if ok, err := verify(v.hash, wrong); ok || err != nil {
					t.Errorf("wrong password %q: %v, %v", wrong, ok, err)
				}
			}
		})
	}
}

func TestHashesThatAreNotStored(t *testing.T) {
	cases := []struct {
		name, hash, want string
	}{
		{"a password in clear", "correct horse", "not a crypt hash"},
		{"nothing", "", "not a crypt hash"},
		{"MD5-CRYPT", "$1$abc$OGyl6dDvZCDiGmIVbeuCq/", "hash of kind $1$ is not accepted"},
		{"yescrypt", "$y$j9T$jXfuLddEFXc6nj0hp4lou1$UFDxefpiOFHvBBGt/y/zy.mh2//Ps5DyZ9NBXnrdhu2", "hash of kind $y$ is not accepted"},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "hash of kind $argon2i$ is not accepted"},
		{"bcrypt-sha256", "$bcrypt-sha256$v=2,t=2b,r=12$n79VH.0Q2TMWmt3Oqt9uku$Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2", "hash of kind $bcrypt-sha256$ is not accepted"},
		{"argon2id cut short", "$argon2id$v=19$m=19456,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA", "argon2id hash:"},
		{"argon2id of another version", "$argon2id$v=16$m=19456,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo", "argon2id hash:"},
		{"bcrypt cut short", "$2b$05$VWdTuulkfLz3y.H.imbbwOax4hVHGWz5zRRdxLNe7E.rt/qmad2", "bcrypt hash:"},
		{"SHA512-CRYPT with no key", "$6$salt$", "SHA512-CRYPT hash:"},
		{"argon2id over 1 GiB", "$argon2id$v=19$m=2097152,t=2,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo", "memory 2097152 KiB is over"},
		{"argon2id of 17 passes", "$argon2id$v=19$m=19456,t=17,p=1$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo", "17 passes are over"},
		{"argon2id of 64 lanes", "$argon2id$v=19$m=19456,t=2,p=64$Z3FtYWlsc2FsdGdxbWFpbA$kucilq5jR/NByGtf0Z3/u79Rv0MGYWfdOXpM+XwYXCo", "64 lanes are over"},
		{"bcrypt cost 17", "$2b$17$VWdTuulkfLz3y.H.imbbwOax4hVHGWz5zRRdxLNe7E.rt/qmad2/a", "cost 17 is over"},
		{"SHA512-CRYPT of 6,000,000 rounds", "$6$rounds=6000000$roundsalt$lu7Rcrwbzvc4i3UU0le05F9a9bmjWI6qZ3W01cRCxB0EHJ8hLrRWzqCTVE5ceVSQRShxY.Ag20d5tJkF3rdy/.", "6000000 rounds are over"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHash(tc.hash)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckHash: %v; want an error with %q", err, tc.want)
			}
			if tc.hash != "" && strings.Contains(err.Error(), tc.hash) {
				t.Errorf("the error quotes the hash: %v", err)
			}
		})
	}
}

func TestHashMakesArgon2idThatVerifies(t *testing.T) {
	h, err := Hash(vectorPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Hash gave %s, not argon2id with m=19456,t=2,p=1", h)
	}
	if ok, err := verify(h, vectorPassword); !ok || err != nil {
		t.Errorf("its password: %v, %v", ok, err)
	}
	if ok, _ := verify(h, "correct horsf"); ok {
		t.Error("another password matched")
	}
	if h2, _ := Hash(vectorPassword); h2 == h {
		t.Error("two hashes of one password are the same: no random salt")
	}
}

func TestHashRefusesEmptyPasswordAndNUL(t *testing.T) {
	for _, pw := range []string{"", "a\x00b"} {
		if h, err := Hash(pw); err == nil {
			t.Errorf("Hash(%q) = %s", pw, h)
		}
	}
}

// The hash checked for an unknown login must cost what a hash from Hash
// costs, or timing tells which logins exist.
func TestDummyHashHasTheParametersOfHash(t *testing.T) {
	h, err := Hash("x")
	if err != nil {
		t.Fatal(err)
	}
	params := func(s string) string { return strings.Join(strings.Split(s, "$")[:4], "$") }
	if params(dummyHash) != params(h) {
		t.Errorf("dummy hash %s, new hashes %s", params(dummyHash), params(h))
	}
	if err := CheckHash(dummyHash); err != nil {
		t.Error(err)
	}
}
