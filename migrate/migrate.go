// Package migrate holds the importers from an existing qmail or sendmail
// installation. For now there is one: ParseAssign reads qmail's
// users/assign, and FormatAssign writes it back.
//
// Every importer checks its whole input before anything is changed: it
// returns either everything it read or an error, never part of the input.
// The error reports each bad line, not just the first, with its line number,
// the reason and the line itself, so that an administrator can fix the file
// in one pass. Importers only read and convert; storing the result (for
// assign, store.WriteAssignTable) is the caller's step.
package migrate
