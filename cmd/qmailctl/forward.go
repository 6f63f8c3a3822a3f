package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/gqmail/gqmail/internal/address"
	"github.com/gqmail/gqmail/internal/cli"
	"github.com/gqmail/gqmail/internal/control"
	"github.com/gqmail/gqmail/localdeliver/dotforward"
)

func (a *app) forwardCommand() *cobra.Command {
	convert := dryRunLeaf(&cobra.Command{
		Use:   "convert [--dry-run] HOME...",
		Short: "write the .qmail file equivalent to each home's .forward",
		Long: `Reads HOME/.forward with dot-forward's rules (addresses qualified from the
root's control files) and writes HOME/.qmail doing the same: &address,
|program, /file, and the default delivery for \user. An existing .qmail is
never replaced. The file is the home owner's, with the .forward's mode less
any write bit for group or others and any execute bit. Homes that cannot be
converted are listed with the reason. Exits 0 when every home was converted
or had nothing to convert, 100 when some could not be converted, 111 on a
failure. --dry-run prints what it would write and writes nothing.`,
		Args: cobra.MinimumNArgs(1),
	}, "print what would be written, write nothing", func(out io.Writer, homes []string, dryRun bool) error {
		return a.forwardConvert(terminalSafe(out), homes, dryRun)
	})
	return group(&cobra.Command{
		Use:   "forward",
		Short: "users' sendmail .forward files",
	}, convert)
}

// A home that cannot be converted, and why.
type notConverted struct{ reason string }

func (n notConverted) Error() string { return n.reason }

// nothingToConvert is a home whose .forward asks for nothing to be done.
type nothingToConvert struct{ reason string }

func (n nothingToConvert) Error() string { return n.reason }

func (a *app) forwardConvert(out io.Writer, homes []string, dryRun bool) error {
	p, cfg, err := a.rootConfig()
	if err != nil {
		return err
	}
	ctl := control.Open(p.Control, nil)
	conv := &converter{
		q:      address.Qualifier{DefaultHost: ctl.DefaultHost(), DefaultDomain: ctl.DefaultDomain(), PlusDomain: ctl.PlusDomain()},
		isHost: func(d string) bool { me, _ := ctl.Me(); return strings.EqualFold(d, me) || ctl.Locals().Contains(d) },
		self:   selfLines(cfg.Delivery.DefaultDelivery),
		dryRun: dryRun,
	}
	var converted, refused, nothing, failed int
	for _, home := range homes {
		lines, notes, err := conv.convert(home)
		var nc notConverted
		var nt nothingToConvert
		switch {
		case err == nil:
			converted++
			verb := "wrote"
			if dryRun {
				verb = "would write"
			}
			fmt.Fprintf(out, "%s: %s .qmail:\n", home, verb)
			for _, l := range lines {
				fmt.Fprintf(out, "\t%s\n", l)
			}
			for _, n := range notes {
				fmt.Fprintf(out, "%s: note: %s\n", home, n)
			}
		case errors.As(err, &nc):
			refused++
			fmt.Fprintf(out, "%s: not converted: %s\n", home, nc.reason)
		case errors.As(err, &nt):
			nothing++
			fmt.Fprintf(out, "%s: nothing to convert: %s\n", home, nt.reason)
		default:
			failed++
			fmt.Fprintf(out, "%s: failed: %v\n", home, err)
		}
	}
	fmt.Fprintf(out, "converted %d, not converted %d, nothing to convert %d, failed %d\n", converted, refused, nothing, failed)
	switch {
	case failed > 0:
		return exitError{cli.ExitTemporary}
	case refused > 0:
		return exitError{cli.ExitPermanent}
	}
	return nil
}

// selfLines is what "\user" becomes: the default delivery's lines but
// those that run dot-forward, which would read the .forward again.
func selfLines(dd string) []string {
	var lines []string
	for _, l := range strings.Split(dd, "\n") {
		if strings.HasPrefix(l, "|") {
			if _, ok := dotforward.Command(l[1:]); ok {
				continue
			}
		}
		lines = append(lines, l)
	}
	return lines
}

type converter struct {
	q      address.Qualifier
	isHost func(string) bool
	self   []string
	dryRun bool
}

// convert converts one home. It runs as root in a directory its user
// controls, so it works from a descriptor of the home and follows no
// symbolic link there: a .forward or .qmail that is a link is refused,
// and .qmail is made by link(2), which never replaces a file.
func (c *converter) convert(home string) (lines, notes []string, err error) {
	dir, err := unix.Open(home, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, notConverted{fmt.Sprintf("cannot open the home: %v", err)}
	}
	defer unix.Close(dir)
	var hst unix.Stat_t
	if err := unix.Fstat(dir, &hst); err != nil {
		return nil, nil, err
	}
	var qst unix.Stat_t
	switch err := unix.Fstatat(dir, ".qmail", &qst, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		return nil, nil, notConverted{"a .qmail exists; it is never replaced"}
	case err != unix.ENOENT:
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(home, ".qmail"), err)
	}
	fd, err := unix.Openat(dir, ".forward", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ENOENT:
		return nil, nil, nothingToConvert{"no .forward"}
	case err == unix.ELOOP:
		return nil, nil, notConverted{".forward is a symbolic link"}
	case err != nil:
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(home, ".forward"), err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(home, ".forward"))
	defer f.Close()
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return nil, nil, err
	}
	switch {
	case fst.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, nil, notConverted{".forward is not a regular file"}
	case fst.Uid != hst.Uid:
		return nil, nil, notConverted{fmt.Sprintf(".forward belongs to uid %d, the home to uid %d", fst.Uid, hst.Uid)}
	case fst.Mode&0o022 != 0:
		return nil, nil, notConverted{fmt.Sprintf(".forward is writable by group or others (mode %04o); delivery refuses it too", fst.Mode&0o7777)}
	case fst.Size > dotforward.MaxSize:
		return nil, nil, notConverted{fmt.Sprintf(".forward is larger than %d bytes", dotforward.MaxSize)}
	}
	contents, err := io.ReadAll(io.LimitReader(f, dotforward.MaxSize+1))
	if err != nil {
		return nil, nil, err
	}
	u, err := user.LookupId(strconv.Itoa(int(hst.Uid)))
	if err != nil {
		return nil, nil, notConverted{fmt.Sprintf("no account owns the home (uid %d), so \\user cannot be told: %v", hst.Uid, err)}
	}
	entries, err := dotforward.Parse(contents, dotforward.Owner{User: u.Username, IsHost: c.isHost}, c.q)
	var bad dotforward.Errors
	if errors.As(err, &bad) {
		reasons := make([]string, len(bad))
		for i, e := range bad {
			reasons[i] = fmt.Sprintf(".forward %v", e)
		}
		return nil, nil, notConverted{strings.Join(reasons, "; ")}
	}
	if len(entries) == 0 {
		return nil, nil, nothingToConvert{".forward holds no address; the default delivery applies"}
	}
	lines, err = dotforward.ToQmail(entries, c.self)
	if err != nil {
		return nil, nil, notConverted{".forward " + err.Error()}
	}
	if len(lines) == 0 {
		return nil, nil, nothingToConvert{".forward only names the user, and the default delivery is dot-forward alone"}
	}
	for _, e := range entries {
		if e.Kind == dotforward.Program {
			notes = append(notes, fmt.Sprintf(".forward line %d: the program no longer gets dot-forward's From_, Return-Path and Delivered-To lines before the message ($UFLINE, $RPLINE, $DTLINE hold them)", e.Line))
		}
	}
	if c.dryRun {
		return lines, notes, nil
	}
	mode := uint32(fst.Mode) & 0o644
	if err := writeQmail(dir, home, strings.Join(lines, "\n")+"\n", int(hst.Uid), int(hst.Gid), mode); err != nil {
		return nil, nil, err
	}
	return lines, notes, nil
}

// writeQmail makes dir's .qmail with text, owned by uid and gid: written
// under a new name, synced, then linked to .qmail, which fails if one
// appeared meanwhile.
func writeQmail(dir int, home, text string, uid, gid int, mode uint32) error {
	var r [8]byte
	rand.Read(r[:])
	tmp := ".qmail.convert-" + hex.EncodeToString(r[:])
	fd, err := unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(home, tmp), err)
	}
	defer unix.Unlinkat(dir, tmp, 0)
	f := os.NewFile(uintptr(fd), filepath.Join(home, tmp))
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		return err
	}
	if err := unix.Fchown(fd, uid, gid); err != nil && !(os.Geteuid() != 0 && uid == os.Geteuid()) {
		return fmt.Errorf("%s: chown: %w", f.Name(), err)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("%s: chmod: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	switch err := unix.Linkat(dir, tmp, dir, ".qmail", 0); {
	case err == unix.EEXIST:
		return notConverted{"a .qmail appeared meanwhile; it is never replaced"}
	case err != nil:
		return fmt.Errorf("%s: %w", filepath.Join(home, ".qmail"), err)
	}
	return unix.Fsync(dir)
}
