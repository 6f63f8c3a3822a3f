#!/bin/sh
# Time of "qmailctl aliases import" on an /etc/aliases of 100,000 aliases
# (a tenth lists of three members and a program, with a continuation
# line, each with its owner- alias; a tenth files; the rest forwards),
# median of RUNS (default 3). COUNT changes the number of aliases.
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
count=${COUNT:-100000}
work=$(mktemp -d /tmp/gqmail-aliases-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/" ./cmd/qmailctl
mkdir -p "$work/root/users" "$work/root/control"
touch "$work/root/qmail.toml"
awk -v n="$count" 'BEGIN { print "# generated"; for (i = 0; i < n; i++) {
	if (i % 10 == 0) printf "list%d: user%d, user%d@example.org,\n\tuser%d, \"|/usr/bin/logger -t list%d\"\n", i, i, i + 1, i + 2, i
	else if (i % 10 == 1) printf "owner-list%d: admin%d\n", i - 1, i
	else if (i % 10 == 2) printf "file%d: /var/mail/archive%d\n", i, i
	else printf "alias%d: person%d@example.com\n", i, i } }' > "$work/aliases"
i=1
times=""
while [ "$i" -le "$runs" ]; do
	s=$(date +%s.%N)
	"$work/qmailctl" --root "$work/root" aliases import "$work/aliases" >/dev/null
	e=$(date +%s.%N)
	t=$(echo "$s $e" | awk '{ printf "%.3f", $2 - $1 }')
	echo "run $i: $t s for $count aliases ($(wc -l < "$work/aliases") lines)"
	times="$times $t"
	i=$((i + 1))
done
echo "median: $(echo "$times" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') s"
