package aliases

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// Import reads the aliases file at file ("-" for stdin) and, unless
// dryRun, replaces the table at tablePath with it. It says what it did on
// out. On any bad line the error is an *Error listing every one, and the
// table is unchanged.
func Import(out io.Writer, file, tablePath string, dryRun bool) error {
	var (
		r    io.Reader = os.Stdin
		name           = "stdin"
	)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r, name = f, file
	}
	p, err := ParseFile(bufio.NewReaderSize(r, 1<<16), name, Options{})
	if err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintf(out, "%s: %d aliases, %d include files, all good; nothing changed (--dry-run)\n", name, len(p.Aliases), len(p.Includes))
		return nil
	}
	if err := WriteTable(tablePath, p); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d aliases, %d include files imported into %s\n", name, len(p.Aliases), len(p.Includes), tablePath)
	return nil
}
