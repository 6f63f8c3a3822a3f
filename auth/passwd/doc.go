// Package passwd owns gqmail's SMTP AUTH password table, users/passwd.db
// under a root (Path), and the password hashes in it. It hashes new
// passwords, answers whether a password is a login's, changes the table
// one login at a time, and imports a Dovecot passwd-file. qmaild
// checkpassword answers the checkpassword interface from it; qmailctl
// passwd administers it.
//
// # The table
//
// A bbolt file with two buckets:
//
//	meta    "schema" → uint32 schema version (1)
//	logins  login → hash
//
// A login is a plain account name ("alice") or an address
// ("bob@example.net"), stored ASCII-lowercased (NormalizeLogin): 1 to 255
// bytes of valid UTF-8 with no white space, control character or colon.
// A hash is one that CheckHash accepts.
//
// # Guarantees
//
// The table is never changed in place. Every change (Set, Delete, Import)
// reads the whole table, builds a complete new file beside it, fsyncs it,
// renames it over the old one and fsyncs the directory, so a reader sees
// the old table or the new one, never a mixture, and a crash leaves one of
// the two. Writers take an exclusive flock on the table's directory, so
// two changes at once do not lose one of them; readers take no lock of
// the directory and are never kept waiting by a writer.
//
// A new table is mode 0600; when written by root it belongs to the owner
// of its directory (root for a system root, the user of a playground
// root). A replaced table keeps the mode and owner of the one it replaces,
// so an administrator may let a group read it. A table that anyone but its
// owner may write is refused, by readers and writers alike: whoever can
// write it can give themselves a login.
//
// A reader (Check, List) opens the file read-only, reads and closes it;
// the checkpassword process never holds the table for longer than one
// lookup. A missing table, or a missing users/ directory, has no logins.
//
// # Hashes
//
// New passwords are hashed with argon2id (see Hash for the parameters).
// Verified: argon2id ($argon2id$, PHC form), bcrypt ($2a$, $2b$, $2y$),
// SHA512-CRYPT ($6$) and SHA256-CRYPT ($5$), through
// github.com/go-crypt/crypt, which compares in constant time. Nothing else
// is stored: MD5-CRYPT, DES crypt, argon2i and argon2d, and passwords in
// clear are refused. A hash whose check would cost more than a mail server
// can give each login attempt is refused too (argon2id over 1 GiB, over 16
// passes or over 16 lanes; bcrypt cost over 16; SHA-crypt over 5,000,000
// rounds): checkpassword runs once for every AUTH an attacker sends.
//
// Check spends the same work on a login the table does not have as on one
// with a hash from Hash (it verifies the password against a fixed hash of
// the same parameters), so timing does not tell which logins exist.
//
// # Dovecot passwd-file
//
// ParseDovecot and Import read Dovecot's passwd-file format, one login a
// line:
//
//	user:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]
//
// Only the first two fields are read; the rest are ignored. Blank lines
// and lines whose first non-blank byte is "#" are skipped; a line may end
// in "\r\n". Schemes
// (case-insensitive): {BLF-CRYPT} (bcrypt), {ARGON2ID}, {SHA512-CRYPT},
// {SHA256-CRYPT}, and {CRYPT} when its hash is one of those, as Dovecot
// hands {CRYPT} to crypt(3); a bare $2y$, $6$, $5$ or $argon2id$ hash with
// no scheme is taken too. Any other of Dovecot's schemes ({PLAIN},
// {MD5-CRYPT}, {SSHA}...) is an error for that line naming the scheme;
// any other text in braces is "a scheme gqmail does not know". Every hash
// is decoded and its cost checked.
//
// Every bad line is reported at once, with its line number and why
// (ImportError), and then nothing is changed. A login on two lines is an
// error naming the login and both lines. No other error quotes any part
// of a line, which may hold a password in clear: a bad login, a hash the
// decoder refuses and a hash kind or scheme gqmail does not know are each
// given a fixed reason, naming at most a hash kind or scheme from
// gqmail's own lists (and a cost over the limits, as a number).
//
// Import adds the file's logins to the table, replacing the hash of a
// login the table already has; logins the file does not name are kept.
//
// # What it does not do
//
// It never logs or returns a password, nor a hash it was handed for a
// password in clear. It keeps no cache and no open file between calls.
package passwd
