package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gqmail/gqmail/auth/passwd"
	"github.com/gqmail/gqmail/internal/cli"
)

// maxCheckpasswordInput is what the checkpassword interface carries:
// login, password and timestamp with their NULs. A longer password could
// be stored but never checked.
const maxCheckpasswordInput = 512

func (a *app) passwdCommand() *cobra.Command {
	var isHash bool
	set := leaf(&cobra.Command{
		Use:   "set [--hash] LOGIN",
		Short: "give LOGIN a password, read from stdin, adding the login if it is new",
		Long: `Reads the password from stdin: on a terminal, asks twice without echo;
otherwise reads one line. It is stored as an argon2id hash. With --hash the
line read is a hash to store as it is (argon2id, bcrypt $2a$/$2b$/$2y$,
SHA512-CRYPT $6$ or SHA256-CRYPT $5$); it is read from stdin, not given as
an argument, since every user may read the arguments of every process.`,
		Args: cobra.ExactArgs(1),
	}, func(out io.Writer, argv []string) error {
		return a.passwdSet(out, argv[0], isHash)
	})
	set.Flags().BoolVar(&isHash, "hash", false, "stdin holds a hash, not a password")
	del := leaf(&cobra.Command{
		Use:   "delete LOGIN",
		Short: "remove LOGIN (exits 100 if it is not there)",
		Args:  cobra.ExactArgs(1),
	}, func(out io.Writer, argv []string) error {
		return a.passwdDelete(out, argv[0])
	})
	imp := importLeaf("add the logins of a Dovecot passwd-file (- for stdin)",
		`Reads a Dovecot passwd-file (user:{SCHEME}hash[:more fields], # comments)
and adds its logins to the table in one step, replacing the hash of a login
the table has; logins the file does not name are kept. Schemes: {BLF-CRYPT},
{ARGON2ID}, {SHA512-CRYPT}, {SHA256-CRYPT}, {CRYPT} of those, or a bare
hash. If any line is bad, every bad line is reported with its number and
nothing is changed. --dry-run only checks.`,
		a.passwdImport)
	list := leaf(&cobra.Command{
		Use:   "list",
		Short: "print the logins, one a line",
		Args:  cobra.NoArgs,
	}, func(out io.Writer, _ []string) error {
		return a.passwdList(out)
	})
	return group(&cobra.Command{
		Use:   "passwd",
		Short: "the SMTP AUTH password table (users/passwd.db)",
		Long: `The logins that qmaild checkpassword accepts, each with a password hash.
A login is an account name or an address; case does not matter (ASCII).
Every change replaces the table in one step. The table belongs to the owner
of users/ and is mode 0600: under a system root, change it as root.`,
	}, set, del, imp, list)
}

// passwdTable returns the table's path, once the root is known to be a
// gqmail root.
func (a *app) passwdTable() (string, error) {
	p, err := a.paths()
	if err != nil {
		return "", err
	}
	return passwd.Path(p), nil
}

func (a *app) passwdSet(out io.Writer, login string, isHash bool) error {
	key, err := passwd.NormalizeLogin(login)
	if err != nil {
		return usageError{err}
	}
	path, err := a.passwdTable()
	if err != nil {
		return err
	}
	var hash string
	if isHash {
		line, err := readLine(os.Stdin)
		if err != nil {
			return err
		}
		if err := passwd.CheckHash(line); err != nil {
			return usageError{fmt.Errorf("--hash: %w", err)}
		}
		hash = line
	} else {
		password, err := readPassword(os.Stdin, key)
		if err != nil {
			return err
		}
		if hash, err = passwd.Hash(password); err != nil {
			return usageError{err}
		}
	}
	if err := passwd.Set(path, key, hash); err != nil {
		return err
	}
	fmt.Fprintf(out, "passwd: set %s\n", key)
	return nil
}

// readPassword reads the new password of login: on a terminal twice,
// without echo; otherwise one line.
func readPassword(in *os.File, login string) (string, error) {
	var password string
	if fd := int(in.Fd()); term.IsTerminal(fd) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(os.Stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(os.Stderr)
			if err != nil {
				return "", fmt.Errorf("reading the password: %w", err)
			}
			return string(b), nil
		}
		first, err := ask("New password for " + login + ": ")
		if err != nil {
			return "", err
		}
		again, err := ask("Again: ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", usageError{errors.New("the two passwords differ; nothing changed")}
		}
		password = first
	} else {
		line, err := readLine(in)
		if err != nil {
			return "", err
		}
		password = line
	}
	if len(password) > passwd.MaxPassword {
		return "", usageError{fmt.Errorf("the password has %d bytes; SMTP AUTH takes at most %d", len(password), passwd.MaxPassword)}
	}
	if room := maxCheckpasswordInput - len(login) - 3; len(password) > room {
		return "", usageError{fmt.Errorf("the password has %d bytes; with the login, checkpassword carries at most %d", len(password), room)}
	}
	if password == "" {
		return "", usageError{errors.New("empty password; nothing changed")}
	}
	return password, nil
}

// readLine reads one line of stdin, without its line end.
func readLine(in io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadBytes('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading stdin: %w", err)
	}
	return string(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))), nil
}

func (a *app) passwdDelete(out io.Writer, login string) error {
	key, err := passwd.NormalizeLogin(login)
	if err != nil {
		return usageError{err}
	}
	path, err := a.passwdTable()
	if err != nil {
		return err
	}
	existed, err := passwd.Delete(path, key)
	if err != nil {
		return err
	}
	if !existed {
		fmt.Fprintf(os.Stderr, "qmailctl: passwd: %s is not in %s; nothing changed\n", key, path)
		return exitError{cli.ExitPermanent}
	}
	fmt.Fprintf(out, "passwd: deleted %s\n", key)
	return nil
}

func (a *app) passwdImport(out io.Writer, file string, dryRun bool) error {
	r, name, closeInput, err := openInput(file)
	if err != nil {
		return err
	}
	defer closeInput()
	if dryRun {
		entries, err := passwd.ParseDovecot(r, name)
		if err != nil {
			return fmt.Errorf("nothing changed:\n%w", err)
		}
		fmt.Fprintf(out, "passwd: %s: %d logins, all good; nothing changed (--dry-run)\n", name, len(entries))
		return nil
	}
	path, err := a.passwdTable()
	if err != nil {
		return err
	}
	n, err := passwd.Import(path, r, name)
	if err != nil {
		return fmt.Errorf("nothing changed:\n%w", err)
	}
	fmt.Fprintf(out, "passwd: imported %d logins from %s\n", n, name)
	return nil
}

func (a *app) passwdList(out io.Writer) error {
	path, err := a.passwdTable()
	if err != nil {
		return err
	}
	logins, err := passwd.List(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	for _, l := range logins {
		fmt.Fprintln(w, l)
	}
	return w.Flush()
}
