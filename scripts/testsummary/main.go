// Command testsummary reads `go test -json` on stdin and says what the
// plain output hides: it prints each package's result, the output of
// every failed test, and every skipped test with its reason, then a count
// of each. With -peers-required it also fails when a test skipped because
// a peer that scripts/install-test-deps installs is missing (such a skip
// is a test that did not run, not a pass). It exits 1 when a test failed
// or such a skip happened, 0 otherwise.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// event is one line of go test -json.
type event struct {
	Action     string
	Package    string
	ImportPath string // of build-output and build-fail
	Test       string
	Output     string
}

// peerMissing is how the tests' need() and startSink() say a peer is
// not installed.
const peerMissing = "scripts/install-test-deps installs it"

func main() {
	peersRequired := flag.Bool("peers-required", false, "fail when a test skips for a peer scripts/install-test-deps installs")
	flag.Parse()
	output := map[string][]string{} // by package and test; a package's own under "pkg "
	var skips, failures, missingPeers []string
	passed := 0
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not JSON: a build error, say. Pass it on.
			fmt.Println(sc.Text())
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			// A compiler's complaint: always shown.
			fmt.Print(e.Output)
		case "build-fail":
			failures = append(failures, e.ImportPath+" (build)")
		case "output":
			if e.Test == "" && (strings.HasPrefix(e.Output, "ok ") || strings.HasPrefix(e.Output, "?")) {
				fmt.Print(e.Output)
				continue
			}
			output[key] = append(output[key], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			}
			delete(output, key)
		case "skip":
			if e.Test == "" {
				continue
			}
			why := reason(output[key])
			skips = append(skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, why))
			if strings.Contains(why, peerMissing) {
				missingPeers = append(missingPeers, e.Test)
			}
			delete(output, key)
		case "fail":
			if e.Test == "" {
				// What the package printed outside its tests: a
				// panic in TestMain, a timeout, its FAIL line.
				fmt.Print(strings.Join(output[key], ""))
				delete(output, key)
				if len(failures) == 0 || !strings.HasPrefix(failures[len(failures)-1], e.Package+" ") {
					failures = append(failures, e.Package)
				}
				continue
			}
			failures = append(failures, key)
			fmt.Printf("--- FAIL: %s %s\n%s", e.Package, e.Test, strings.Join(output[key], ""))
			delete(output, key)
		}
	}
	sort.Strings(skips)
	for _, s := range skips {
		fmt.Println("--- SKIP:", s)
	}
	fmt.Printf("tests: %d passed, %d failed (tests or packages), %d skipped\n", passed, len(failures), len(skips))
	code := 0
	if len(failures) > 0 {
		code = 1
	}
	if *peersRequired && len(missingPeers) > 0 {
		fmt.Printf("FAIL: %d tests skipped for a peer that scripts/install-test-deps should have installed: %s\n", len(missingPeers), strings.Join(missingPeers, ", "))
		code = 1
	}
	os.Exit(code)
}

// reason is the skip message: the last line the test wrote before it
// skipped, without the "--- SKIP" line go test adds.
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		return l
	}
	return "(no reason given)"
}
