package main

import (
	"os"

	"github.com/gqmail/gqmail/localdeliver"
)

// runChild is a delivery child: the helper started it with one user's uid
// and gid, and it delivers the jobs on stdin.
func runChild() error {
	return localdeliver.RunChild(os.Stdin, os.Stdout)
}
