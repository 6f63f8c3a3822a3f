package address

// VERPSuffix ends a VERP sender, "pre@host-@[]": each delivery to box@dom
// gets the sender "prebox=dom@host" (qmail-send), and a .qmail's -owner
// sender is made VERP with it (qmail-local).
const VERPSuffix = "-@[]"
