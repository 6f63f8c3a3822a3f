package passwd

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-crypt/crypt/algorithm"
	"github.com/go-crypt/crypt/algorithm/argon2"
	"github.com/go-crypt/crypt/algorithm/bcrypt"
	"github.com/go-crypt/crypt/algorithm/shacrypt"
)

// The argon2id parameters of new hashes: OWASP's first choice for
// argon2id (19 MiB, 2 passes, 1 lane). Every AUTH attempt is a
// checkpassword process that spends this memory, so the memory, not the
// time, is what bounds how many logins a server can check at once: a
// hundred attempts at once take under 2 GiB, and one takes some 30 ms of
// one core. More lanes would only buy speed with cores that the other
// logins are using.
const (
	argonMemoryKiB = 19 * 1024
	argonPasses    = 2
	argonLanes     = 1
	argonSaltBytes = 16
	argonKeyBytes  = 32
)

// dummyHash is checked in place of a login the table does not have, so
// that the answer for it takes as long as for a login with a hash from
// Hash (the same parameters). Its password is random and forgotten.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$d1VpSDhoN1ZFQ2hMeUpjYw$kmzkVSNYD7DHEDXnVI+0rvYxIE8MHJ9/OTO1sfq/i9A"

// The most a stored hash may cost to check (see the package doc).
const (
	maxArgonMemoryKiB = 1 << 20
	maxArgonPasses    = 16
	maxArgonLanes     = 16
	maxBcryptCost     = 16
	maxSHACryptRounds = 5_000_000
)

// The kinds of hash this package verifies.
const (
	kindArgon2id = "argon2id"
	kindBcrypt   = "bcrypt"
	kindSHA512   = "SHA512-CRYPT"
	kindSHA256   = "SHA256-CRYPT"
)

// Hash returns a new argon2id hash of password, in PHC form, with a random
// salt. An empty password, or one with a NUL byte (the checkpassword
// interface could never send it), is refused.
// MaxPassword is the longest password SMTP AUTH passes on (the smtp
// frontend's bound); a longer one could be set but never used.
const MaxPassword = 256

func Hash(password string) (string, error) {
	switch {
	case password == "":
		return "", errors.New("hashing a password: the password is empty")
	case len(password) > MaxPassword:
		return "", fmt.Errorf("hashing a password: it has %d bytes, and SMTP AUTH takes at most %d", len(password), MaxPassword)
	case strings.IndexByte(password, 0) >= 0:
		return "", errors.New("hashing a password: the password has a NUL byte, which a checkpassword client cannot send")
	}
	h, err := argon2.New(argon2.WithVariantID(), argon2.WithM(argonMemoryKiB), argon2.WithT(argonPasses),
		argon2.WithP(argonLanes), argon2.WithS(argonSaltBytes), argon2.WithK(argonKeyBytes))
	if err != nil {
		return "", fmt.Errorf("hashing a password: %w", err)
	}
	d, err := h.Hash(password)
	if err != nil {
		return "", fmt.Errorf("hashing a password: %w", err)
	}
	return d.Encode(), nil
}

// CheckHash says whether hash may be stored: one of the kinds in the
// package doc, decodable, and not too costly to check. The error says
// what is wrong without quoting the hash, which may be a password in
// clear given by mistake.
func CheckHash(hash string) error {
	_, err := decode(hash)
	return err
}

// kind names the kind of hash, or returns "" for one this package does
// not verify.
func kind(hash string) string {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		return kindArgon2id
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return kindBcrypt
	case strings.HasPrefix(hash, "$6$"):
		return kindSHA512
	case strings.HasPrefix(hash, "$5$"):
		return kindSHA256
	}
	return ""
}

// decode parses a stored hash for verifying, and checks its cost.
func decode(hash string) (algorithm.Digest, error) {
	var (
		d   algorithm.Digest
		err error
	)
	k := kind(hash)
	switch k {
	case kindArgon2id:
		d, err = argon2.DecodeVariant(argon2.VariantID)(hash)
	case kindBcrypt:
		d, err = bcrypt.DecodeVariant(bcrypt.VariantStandard)(hash)
	case kindSHA512:
		d, err = shacrypt.DecodeVariant(shacrypt.VariantSHA512)(hash)
	case kindSHA256:
		d, err = shacrypt.DecodeVariant(shacrypt.VariantSHA256)(hash)
	default:
		return nil, unknownKind(hash)
	}
	if err != nil {
		return nil, fmt.Errorf("%s hash: %s", k, decodeFault(err))
	}
	if err := checkCost(k, hash); err != nil {
		return nil, fmt.Errorf("%s hash: %w", k, err)
	}
	return d, nil
}

// decodeFault says in a fixed text which part of a hash the library could
// not decode. The library's own error is not passed on: it quotes the
// hash ("option 'm' has invalid value '...'"), which may be a password
// given by mistake, and it would reach import errors, qmailctl's output
// and checkpassword's log.
func decodeFault(err error) string {
	switch {
	case errors.Is(err, algorithm.ErrEncodedHashInvalidVersion):
		return "its version cannot be read or is not one gqmail knows"
	case errors.Is(err, algorithm.ErrEncodedHashInvalidOptionKey):
		return "its parameters name one gqmail does not know"
	case errors.Is(err, algorithm.ErrEncodedHashInvalidOption),
		errors.Is(err, algorithm.ErrEncodedHashInvalidOptionValue),
		errors.Is(err, algorithm.ErrParameterInvalid):
		return "its parameters cannot be read"
	case errors.Is(err, algorithm.ErrEncodedHashSaltEncoding):
		return "its salt cannot be decoded"
	case errors.Is(err, algorithm.ErrEncodedHashKeyEncoding):
		return "its key cannot be decoded or is not of the right length"
	}
	return "it is not in that kind's form"
}

// knownKinds are crypt identifiers of hashes this package does not
// verify, which an error may name: they are not the hash's own text.
var knownKinds = []string{
	"1", "apr1", "md5", "3", "sha1", "y", "gy", "7", "scrypt",
	"argon2i", "argon2d", "bcrypt-sha256", "2x",
	"pbkdf2", "pbkdf2-sha1", "pbkdf2-sha256", "pbkdf2-sha512",
}

// unknownKind says what is wrong with a hash of no kind that is verified,
// naming its crypt identifier only if it is one of knownKinds ("$1$"), and
// nothing of the hash otherwise: a password in clear may look like one.
func unknownKind(hash string) error {
	const accepted = "accepted: $argon2id$, $2a$, $2b$, $2y$, $6$, $5$"
	if !strings.HasPrefix(hash, "$") {
		return fmt.Errorf("not a crypt hash (%s); a password in clear is never stored", accepted)
	}
	if id, _, ok := strings.Cut(hash[1:], "$"); ok && slices.Contains(knownKinds, id) {
		return fmt.Errorf("hash of kind $%s$ is not accepted (%s)", id, accepted)
	}
	return fmt.Errorf("a hash of a kind gqmail does not know (%s); a password in clear is never stored", accepted)
}

// checkCost refuses a decoded hash that would cost too much to check. The
// library keeps its parameters to itself, so they are read from the text,
// which it has just decoded.
func checkCost(kind, hash string) error {
	parts := strings.Split(hash, "$")
	switch kind {
	case kindArgon2id:
		// $argon2id$v=19$m=M,t=T,p=P$salt$key; v= may be missing, and a
		// missing m, t or p takes the library's default, which is within
		// the limits.
		for _, part := range parts[2 : len(parts)-2] {
			for _, kv := range strings.Split(part, ",") {
				key, value, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseUint(value, 10, 32) // the decoder has read it
				switch {
				case key == "m" && n > maxArgonMemoryKiB:
					return fmt.Errorf("memory %d KiB is over the %d KiB a login check may take", n, maxArgonMemoryKiB)
				case key == "t" && n > maxArgonPasses:
					return fmt.Errorf("%d passes are over the %d a login check may take", n, maxArgonPasses)
				case key == "p" && n > maxArgonLanes:
					return fmt.Errorf("%d lanes are over the %d a login check may take", n, maxArgonLanes)
				}
			}
		}
	case kindBcrypt:
		// $2y$cost$saltkey
		if n, _ := strconv.Atoi(parts[2]); n > maxBcryptCost {
			return fmt.Errorf("cost %d is over the %d a login check may take", n, maxBcryptCost)
		}
	case kindSHA512, kindSHA256:
		// $6$[rounds=N$]salt$key
		if v, ok := strings.CutPrefix(parts[2], "rounds="); ok && len(parts) == 5 {
			if n, _ := strconv.ParseUint(v, 10, 32); n > maxSHACryptRounds {
				return fmt.Errorf("%d rounds are over the %d a login check may take", n, maxSHACryptRounds)
			}
		}
	}
	return nil
}

// verify says whether password matches hash. Its error is for a hash that
// does not decode.
func verify(hash, password string) (bool, error) {
	d, err := decode(hash)
	if err != nil {
		return false, err
	}
	// A password that the scheme cannot take (more than bcrypt's 72
	// bytes) is an error here and simply not the password.
	ok, _ := d.MatchAdvanced(password)
	return ok, nil
}
