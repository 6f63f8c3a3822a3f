package main

import "errors"

func runStdioSMTP(root string) error {
	return errors.New("smtpd: serving on stdin and stdout needs the local submission socket, which is not built yet")
}
