#!/bin/sh
# Time of "qmailctl users import" on a 100,000-line users/assign file
# (50,000 "=" and 50,000 "+" lines, as qmail-pw2u writes them), median of
# RUNS (default 3).
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
work=$(mktemp -d /tmp/gqmail-users-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/" ./cmd/qmailctl
# A root as the daemon makes it: qmailctl refuses a directory without
# control/ and qmail.toml.
mkdir -p "$work/root/users" "$work/root/control"
: > "$work/root/qmail.toml"
awk 'BEGIN { for (i = 0; i < 50000; i++) {
	printf "=user%d:user%d:%d:100:/home/user%d:::\n", i, i, 10000 + i, i
	printf "+user%d-:user%d:%d:100:/home/user%d:-::\n", i, i, 10000 + i, i }
	print "." }' > "$work/assign"
i=1
times=""
while [ "$i" -le "$runs" ]; do
	s=$(date +%s.%N)
	"$work/qmailctl" --root "$work/root" users import "$work/assign" >/dev/null
	e=$(date +%s.%N)
	t=$(echo "$s $e" | awk '{ printf "%.3f", $2 - $1 }')
	echo "run $i: $t s for $(wc -l < "$work/assign") lines"
	times="$times $t"
	i=$((i + 1))
done
echo "median: $(echo "$times" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') s"
