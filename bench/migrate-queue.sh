#!/bin/sh
# Time of "qmailctl migrate queue" on a stopped qmail's queue of 10,000
# messages (MESSAGES to change it) in qmail's layout: 7 in 10 preprocessed
# (info, a local and a remote recipient to do, one done), 2 in 10 still in
# todo/, 1 in 10 finished; bodies of 2 KiB, one in 500 of 300 KiB (a body
# file). Runs RUNS (default 3) imports into a fresh root each and prints
# the median, then the time of an import run again (everything skipped).
# Needs python3 to build the queue.
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
messages=${MESSAGES:-10000}
work=$(mktemp -d /tmp/gqmail-migrate-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/" ./cmd/qmailctl

python3 - "$work/qmail/queue" "$messages" <<'EOF'
import os, sys
q, n = sys.argv[1], int(sys.argv[2])
split = 23
for sub in ("mess", "info", "local", "remote"):
    for i in range(split):
        os.makedirs(f"{q}/{sub}/{i}")
for sub in ("todo", "intd", "bounce", "pid", "lock"):
    os.makedirs(f"{q}/{sub}")
open(f"{q}/lock/sendmutex", "w").close()
small = "x" * 76 + "\n"
for i in range(n):
    size = 300 * 1024 if i % 500 == 0 else 2048
    body = f"Received: (qmail {i} invoked by uid 1000); 1 Dec 2026 10:00:00 -0000\nSubject: bench {i}\n\n" + small * (size // 77)
    tmp = f"{q}/pid/{i}.1"
    with open(tmp, "w") as f:
        f.write(body)
    ino = os.stat(tmp).st_ino
    os.link(tmp, f"{q}/mess/{ino % split}/{ino}")
    os.unlink(tmp)
    def put(sub, recs, split_dir=True):
        d = f"{q}/{sub}/{ino % split}" if split_dir else f"{q}/{sub}"
        with open(f"{d}/{ino}", "w") as f:
            f.write("".join(r + "\0" for r in recs))
    kind = i % 10
    if kind < 7:
        put("info", [f"Fsender{i}@example.org"])
        put("local", [f"Tuser{i}@localhost", f"Ddone{i}@localhost"])
        put("remote", [f"Tpeer{i}@remote.example"])
    elif kind < 9:
        recs = ["u1000", f"p{i}", f"Fsender{i}@example.org", f"Tuser{i}@localhost", f"Tpeer{i}@remote.example"]
        put("intd", recs, False)
        put("todo", recs, False)
    else:
        put("info", [f"Fsender{i}@example.org"])
        put("local", [f"Ddone{i}@localhost"])
EOF
echo "qmail queue: $messages messages, $(du -sh "$work/qmail/queue" | cut -f1)"

# As root, queue/ goes to nobody, as qmaild gives it to its account: the
# import then writes it as that account, in a child.
chmod 755 "$work"
fresh_root() {
	rm -rf "$work/root"
	mkdir -p "$work/root/control" "$work/root/queue"
	: > "$work/root/qmail.toml"
	printf 'localhost\n' > "$work/root/control/me"
	if [ "$(id -u)" = 0 ]; then
		chown nobody: "$work/root/queue"
	fi
}

i=1
times=""
while [ "$i" -le "$runs" ]; do
	fresh_root
	sync
	s=$(date +%s.%N)
	"$work/qmailctl" --root "$work/root" migrate --from "$work/qmail" queue > "$work/out"
	e=$(date +%s.%N)
	t=$(echo "$s $e" | awk '{ printf "%.3f", $2 - $1 }')
	echo "run $i: $t s: $(grep 'messages queued' "$work/out")"
	times="$times $t"
	i=$((i + 1))
done
echo "median: $(echo "$times" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') s"
s=$(date +%s.%N)
"$work/qmailctl" --root "$work/root" migrate --from "$work/qmail" queue > "$work/out"
e=$(date +%s.%N)
echo "again: $(echo "$s $e" | awk '{ printf "%.3f", $2 - $1 }') s: $(grep 'messages queued' "$work/out")"
echo "queue.db: $(du -h "$work/root/queue/queue.db" | cut -f1), body files: $(ls "$work/root/queue/bodies" | wc -l)"
