// Package migrate holds the importers from an existing qmail
// installation:
//
//   - ParseAssign reads qmail's users/assign, and FormatAssign writes it
//     back (assign.go);
//   - AssignFromCDB reads the same table from users/cdb, through a cdb
//     reader (userscdb.go, cdb.go);
//   - PlanControl and ControlPlan.Apply copy the control files gqmail
//     reads, checked with its parser (control.go);
//   - ScanQueue and ImportQueue move a stopped qmail's queue into the
//     store, each message once (queue.go).
//
// Every importer checks its whole input before anything is changed: it
// returns either everything it read or an error, never part of the input.
// The error reports each bad line, not just the first, with its line number,
// the reason and the line itself, so that an administrator can fix the file
// in one pass. The queue is the exception that proves the rule: one
// damaged message must not keep the others from being delivered, so
// ScanQueue lists the damaged entries and leaves them in place, and the
// rest is imported. Importers read qmail's files and never change them;
// storing the result (store.WriteAssignTable, store.DB.Accept) is the
// caller's step, except for ImportQueue, whose whole job it is.
package migrate
