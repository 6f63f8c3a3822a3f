package config

import "testing"

func TestDefaultDeliveryMayRunDotForward(t *testing.T) {
	for _, dd := range []string{"./Mailbox", "./Maildir/", "/var/mail/x", "|dot-forward .forward\n./Mailbox", "|dot-forward .forward\n./Maildir/"} {
		if err := checkDefaultDelivery(dd); err != nil {
			t.Errorf("%q refused: %v", dd, err)
		}
	}
	for _, dd := range []string{"", "Mailbox", "&joe", "./Mailbox\n", "\n./Mailbox", "|dot-forward .forward\n\n./Mailbox", "./Mail\x00box"} {
		if err := checkDefaultDelivery(dd); err == nil {
			t.Errorf("%q accepted", dd)
		}
	}
}
