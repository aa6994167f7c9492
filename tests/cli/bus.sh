#!/bin/sh
# SPDX-License-Identifier: MIT
# pub / sub on a bus: both start orders, history, two subscribers, formats,
# losses on a small lossy topic, none on a reliable one, signals, ls and
# stat of a bus, bad input. Every wait is bounded; no timing is asserted.
set -eu
. "$(dirname "$0")/lib.sh"

base="cli-bus-$$"
nspec=0
# new_spec: a fresh topic name in $spec, removed at exit.
new_spec() {
	nspec=$((nspec + 1))
	spec="posix:$base-$nspec"
	on_exit "'$SHMKIT' rm -f '$spec'"
}

# bg_pid PID: stop the background process PID at exit if it still runs (a
# timeout(1) passes SIGTERM on to its command).
bg_pid() {
	on_exit "kill $1"
}

# wait_until SECONDS CMD...: run CMD every 50 ms until it succeeds.
wait_until() {
	t=$1
	shift
	timeout "$t" sh -c 'until "$@" >/dev/null 2>&1; do sleep 0.05; done' sh "$@" ||
		fail "gave up after ${t}s waiting for: $*"
}

# wait_stat SPEC PATTERN: wait until "shmkit stat SPEC" prints a line
# matching PATTERN.
wait_stat() {
	wait_until 20 sh -c '"$1" stat "$2" | grep -q -e "$3"' sh "$SHMKIT" "$1" "$2"
}

# wait_subs SPEC N: wait until the topic has N live subscribers.
wait_subs() {
	wait_stat "$1" "^bus_subscribers: $2 live, 0 dead$"
}

# sub_pid SPEC: the pid of the (only) subscriber of the topic, as stat shows it.
sub_pid() {
	"$SHMKIT" stat "$1" | sed -n 's/^  [0-9][0-9]* \([1-9][0-9]*\) alive .*/\1/p' | head -n 1
}

# finish PID: wait for a background process; its status in $st.
finish() {
	st=0
	wait "$1" || st=$?
}

# same FILE FILE: equal contents.
same() {
	cmp -s "$1" "$2" || fail "$2 differs from $1"
}

# lost_sum FILE: the sum of the "# lost N" lines of a stderr.
lost_sum() {
	sed -n 's/^# lost \([0-9][0-9]*\)$/\1/p' "$1" | awk '{ s += $1 } END { print s + 0 }'
}

seq 1 100 >"$TMP/lines"

# sub first: it creates the topic and gets every line pub sends, in order.
new_spec
timeout 60 "$SHMKIT" sub "$spec" --count 100 >"$TMP/out1" 2>"$TMP/err1" &
psub=$!
bg_pid "$psub"
wait_subs "$spec" 1
expect 0 "$SHMKIT" stat "$spec"
out_has '^kind: 5 (bus)$'
out_has '^bus_policy: lossy$'
out_has '^bus_slots: 256$'
out_has '^bus_max_msg_size: 4096$'
out_has '^bus_published: 0$'
out_has '^bus_publishers: 0 live, 0 dead$'
out_has '^bus_subs: INDEX PID STATE LAG LOST RECEIVED SLEEPING$'
out_has '^  [0-9][0-9]* [1-9][0-9]* alive 0 0 0 \(yes\|no\)$'
expect 0 "$SHMKIT" stat --json "$spec"
json_ok
out_has '"kind_name": "bus"'
out_has '"bus": {"policy": "lossy", "flags": 0, "slots": 256, "max_msg_size": 4096,'
out_has '"subscribers": 1, "dead_subscribers": 0,'
out_has '"subs": \[{"index": [0-9]*, "pid": [1-9][0-9]*, "alive": true, "state": "alive", "lag": 0,'
expect 0 "$SHMKIT" ls
grep -F -e "$spec " "$TMP/out" >"$TMP/row" || fail "ls does not list $spec"
grep -q ' bus .* ready  *lossy slots=256 max-size=4096 published=0 pubs=0 subs=1 sleeping=[01] dead-pubs=0 dead-subs=0$' \
	"$TMP/row" || fail "ls row: $(cat "$TMP/row")"
expect 0 "$SHMKIT" ls --json
json_ok
expect 0 timeout 60 "$SHMKIT" pub "$spec" <"$TMP/lines"
out_empty
finish "$psub"
[ "$st" -eq 0 ] || fail "sub exited $st: $(cat "$TMP/err1")"
[ ! -s "$TMP/err1" ] || fail "sub wrote to stderr: $(cat "$TMP/err1")"
same "$TMP/lines" "$TMP/out1"
expect 0 "$SHMKIT" stat "$spec"
out_has '^bus_published: 100$'
out_has '^bus_subscribers: 0 live, 0 dead$'
out_has '^bus_publishers: 0 live, 0 dead$'

# pub first: it creates the topic, which keeps the messages for a later
# sub --history.
new_spec
expect 0 timeout 20 "$SHMKIT" pub "$spec" <"$TMP/lines"
expect 0 timeout 20 "$SHMKIT" sub "$spec" --history 5 --count 5
seq 96 100 >"$TMP/last5"
same "$TMP/last5" "$TMP/out"
expect 0 timeout 20 "$SHMKIT" sub "$spec" --history 5 --timeout 0
same "$TMP/last5" "$TMP/out"
# DATA, N times; an empty line is an empty message.
expect 0 timeout 20 "$SHMKIT" pub "$spec" hello --count 3
printf 'a\n\nb' | "$SHMKIT" pub "$spec" - || fail "pub from stdin"
expect 0 timeout 20 "$SHMKIT" sub "$spec" --history 6 --timeout 0
printf 'hello\nhello\nhello\na\n\nb\n' >"$TMP/want"
same "$TMP/want" "$TMP/out"
# --count from standard input: at most N lines.
expect 0 timeout 20 "$SHMKIT" pub "$spec" --count 2 <"$TMP/lines"
expect 0 timeout 20 "$SHMKIT" sub "$spec" --history 2 --timeout 0
printf '1\n2\n' >"$TMP/want"
same "$TMP/want" "$TMP/out"
# --rate paces them (its timing is not checked).
expect 0 timeout 20 "$SHMKIT" pub "$spec" tick --count 3 --rate 50
expect 0 timeout 20 "$SHMKIT" sub "$spec" --history 3 --timeout 0
printf 'tick\ntick\ntick\n' >"$TMP/want"
same "$TMP/want" "$TMP/out"

# Two subscribers at once both get everything.
new_spec
timeout 60 "$SHMKIT" sub "$spec" --count 100 >"$TMP/out3a" &
psa=$!
bg_pid "$psa"
timeout 60 "$SHMKIT" sub "$spec" --count 100 >"$TMP/out3b" &
psb=$!
bg_pid "$psb"
wait_subs "$spec" 2
expect 0 timeout 60 "$SHMKIT" pub "$spec" <"$TMP/lines"
finish "$psa"
[ "$st" -eq 0 ] || fail "first sub exited $st"
finish "$psb"
[ "$st" -eq 0 ] || fail "second sub exited $st"
same "$TMP/lines" "$TMP/out3a"
same "$TMP/lines" "$TMP/out3b"

# Formats: json escapes, hex.
new_spec
printf 'plain\nq"uote\tback\\slash\n' | "$SHMKIT" pub "$spec" || fail "pub of two lines"
expect 0 timeout 20 "$SHMKIT" sub "$spec" --history 2 --timeout 0 --format json
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <"$TMP/out" ||
		fail "sub --format json is not one JSON object per line"
fi
out_has_fixed '{"seq": 1, "length": 5, "lost": 0, "data": "plain"}'
out_has_fixed '{"seq": 2, "length": 17, "lost": 0, "data": "q\"uote\tback\\slash"}'
expect 0 timeout 20 "$SHMKIT" sub "$spec" --history 1 --timeout 0 --format hex
out_has '^message 1, 17 bytes:$'
out_has '^  71 22 75 6f 74 65 09 62 61 63 6b 5c 73 6c 61 73 68$'

# A lossy topic of 4 slots and a reader stopped while 100 messages go by:
# it loses most of them and says how many, never silently.
new_spec
expect 0 "$SHMKIT" pub "$spec" --slots 4 first
for fmt in text json; do
	timeout 60 "$SHMKIT" sub "$spec" --timeout 1000 --format "$fmt" \
		>"$TMP/out5" 2>"$TMP/err5" &
	psub=$!
	bg_pid "$psub"
	wait_subs "$spec" 1
	pid=$(sub_pid "$spec")
	[ -n "$pid" ] || fail "stat shows no subscriber pid"
	kill -STOP "$pid"
	on_exit "kill -CONT $pid"
	expect 0 timeout 20 "$SHMKIT" pub "$spec" <"$TMP/lines"
	expect 0 "$SHMKIT" stat "$spec"
	out_has '^  [0-9][0-9]* [1-9][0-9]* alive 100 0 0 \(yes\|no\)$'
	kill -CONT "$pid"
	finish "$psub"
	[ "$st" -eq 0 ] || fail "lossy sub exited $st: $(cat "$TMP/err5")"
	got=$(wc -l <"$TMP/out5")
	if [ "$fmt" = text ]; then
		lost=$(lost_sum "$TMP/err5")
		# What it got is the end of what was published, in order.
		tail -n "$got" "$TMP/lines" >"$TMP/tail"
		same "$TMP/tail" "$TMP/out5"
	else
		[ ! -s "$TMP/err5" ] || fail "sub --format json wrote to stderr"
		lost=$(sed -n 's/.*"lost": \([0-9][0-9]*\),.*/\1/p' "$TMP/out5" |
			awk '{ s += $1 } END { print s + 0 }')
	fi
	[ "$lost" -gt 0 ] || fail "a lapped $fmt subscriber reported no loss"
	[ "$got" -gt 0 ] || fail "a lapped $fmt subscriber received nothing"
	[ $((got + lost)) -eq 100 ] ||
		fail "$fmt: received $got + lost $lost is not the 100 published"
done

# A reliable topic of 4 slots: the publisher waits for the stopped reader,
# which loses nothing.
new_spec
expect 0 "$SHMKIT" pub "$spec" --reliable --slots 4 first
expect 0 "$SHMKIT" stat "$spec"
out_has '^bus_policy: reliable$'
out_has '^bus_slots: 4$'
timeout 60 "$SHMKIT" sub "$spec" --count 100 >"$TMP/out6" 2>"$TMP/err6" &
psub=$!
bg_pid "$psub"
wait_subs "$spec" 1
pid=$(sub_pid "$spec")
[ -n "$pid" ] || fail "stat shows no subscriber pid"
kill -STOP "$pid"
on_exit "kill -CONT $pid"
timeout 60 "$SHMKIT" pub "$spec" <"$TMP/lines" 2>"$TMP/err7" &
ppub=$!
bg_pid "$ppub"
# The topic is full: the publisher waits (it cannot have ended).
wait_stat "$spec" '^bus_published: 5$'
kill -0 "$ppub" 2>/dev/null || fail "a reliable publisher did not wait for its reader"
expect 0 "$SHMKIT" stat "$spec"
out_has '^bus_publishers: 1 live, 0 dead$'
kill -CONT "$pid"
finish "$psub"
[ "$st" -eq 0 ] || fail "reliable sub exited $st: $(cat "$TMP/err6")"
[ ! -s "$TMP/err6" ] || fail "reliable sub wrote to stderr: $(cat "$TMP/err6")"
same "$TMP/lines" "$TMP/out6"
finish "$ppub"
[ "$st" -eq 0 ] || fail "reliable pub exited $st: $(cat "$TMP/err7")"

# Signals end a subscription cleanly: SIGINT with status 0 (and the --hz
# summary), SIGTERM by dying of it; both leave the topic.
new_spec
if env --default-signal=INT true 2>/dev/null; then
	# A background job of a script ignores SIGINT: env restores it.
	env --default-signal=INT "$SHMKIT" sub "$spec" --hz >"$TMP/out8" 2>"$TMP/err8" &
	psub=$!
	bg_pid "$psub"
	wait_subs "$spec" 1
	expect 0 timeout 20 "$SHMKIT" pub "$spec" hello --count 3
	wait_until 20 sh -c '[ "$(wc -l <"$1")" -ge 3 ]' sh "$TMP/out8"
	kill -INT "$psub"
	finish "$psub"
	[ "$st" -eq 0 ] || fail "sub exited $st on SIGINT"
	grep -q '^# 3 received, 0 lost in [0-9.]* s (' "$TMP/err8" ||
		fail "no --hz summary: $(cat "$TMP/err8")"
	expect 0 "$SHMKIT" stat "$spec"
	out_has '^bus_subscribers: 0 live, 0 dead$'
else
	note "skip SIGINT: env --default-signal is missing"
fi
"$SHMKIT" sub "$spec" >/dev/null 2>"$TMP/err9" &
psub=$!
bg_pid "$psub"
wait_subs "$spec" 1
kill -TERM "$psub"
finish "$psub"
[ "$st" -eq 143 ] || fail "sub exited $st on SIGTERM"
expect 0 "$SHMKIT" stat "$spec"
out_has '^bus_subscribers: 0 live, 0 dead$'

# --timeout with nothing received: exit 1, one line.
failure timeout 20 "$SHMKIT" sub "$spec" --timeout 100
err_has "^shmkit sub: $spec: no message in 100 ms$"

# Bad input: usage errors (exit 2) create nothing.
new_spec
usage_error "$SHMKIT" pub
err_has 'missing TOPIC'
usage_error "$SHMKIT" sub
err_has 'missing TOPIC'
usage_error "$SHMKIT" pub ""
usage_error "$SHMKIT" sub ""
usage_error "$SHMKIT" pub "$spec" x y
usage_error "$SHMKIT" sub "$spec" extra
usage_error "$SHMKIT" pub "$spec" x --bogus
usage_error "$SHMKIT" sub "$spec" --bogus
for r in 0 0.0 0.0001 -1 abc 1e3 "" . 1.2.3 0x10 inf 2000000000; do
	usage_error "$SHMKIT" pub "$spec" x --rate "$r"
	err_has 'rate'
done
usage_error "$SHMKIT" pub "$spec" x --rate
# (Not $n: lib.sh uses it.)
for cnt in 0 -1 abc "" 1x; do
	usage_error "$SHMKIT" pub "$spec" x --count "$cnt"
	err_has 'count'
	usage_error "$SHMKIT" sub "$spec" --count "$cnt"
	err_has 'count'
done
for f in xml "" TEXT; do
	usage_error "$SHMKIT" sub "$spec" --format "$f"
	err_has 'format'
done
for h in -1 abc ""; do
	usage_error "$SHMKIT" sub "$spec" --history "$h"
done
for ms in -1 abc "" 99999999999; do
	usage_error "$SHMKIT" sub "$spec" --timeout "$ms"
done
for s in 0 1 3 6 2097152 abc ""; do
	usage_error "$SHMKIT" pub "$spec" x --slots "$s"
	err_has 'slots'
done
for m in 0 2G abc ""; do
	usage_error "$SHMKIT" pub "$spec" x --max-size "$m"
	err_has 'max-size'
done
usage_error "$SHMKIT" pub "$spec" x --slots 1048576 --max-size 1G
failure "$SHMKIT" stat "$spec"
failure timeout 20 "$SHMKIT" pub "bogus:x" x
failure timeout 20 "$SHMKIT" sub "posix:a/b" --timeout 0

# A message over the topic's largest size: one line, exit 1; the lines
# before it are published, not those after it.
new_spec
expect 0 "$SHMKIT" pub "$spec" --max-size 16 0123456789abcdef
failure timeout 20 "$SHMKIT" pub "$spec" 0123456789abcdefg
err_has "^shmkit pub: $spec: message of 17 bytes is over the topic's limit of 16 bytes$"
printf 'ok\n0123456789abcdefg\nafter\n' >"$TMP/long"
failure timeout 20 "$SHMKIT" pub "$spec" <"$TMP/long"
err_has "^shmkit pub: $spec: line 2 is over the topic's limit of 16 bytes$"
expect 0 "$SHMKIT" stat "$spec"
out_has '^bus_published: 2$'
out_has '^bus_max_msg_size: 16$'

# Objects that are not buses.
new_spec
expect 0 "$SHMKIT" send "$spec" hello
failure timeout 20 "$SHMKIT" pub "$spec" x
err_has "^shmkit pub: $spec: is a queue, not a bus$"
failure timeout 20 "$SHMKIT" sub "$spec" --timeout 0
err_has "^shmkit sub: $spec: is a queue, not a bus$"
new_spec
expect 0 "$SHMKIT" create "$spec" --size 4096
failure timeout 20 "$SHMKIT" pub "$spec" x
err_has "^shmkit pub: $spec: is a segment, not a bus$"
failure timeout 20 "$SHMKIT" sub "$spec" --timeout 0
err_has "^shmkit sub: $spec: is a segment, not a bus$"
new_spec
expect 0 timeout 20 "$SHMKIT" pipe-in "$spec" </dev/null
failure timeout 20 "$SHMKIT" pub "$spec" x
err_has "^shmkit pub: $spec: is a ring, not a bus$"
failure timeout 20 "$SHMKIT" sub "$spec" --timeout 0
err_has "^shmkit sub: $spec: is a ring, not a bus$"

for c in pub sub; do
	expect 0 "$SHMKIT" "$c" --help
	out_has "^Usage: shmkit $c TOPIC"
done

echo "bus: ok"
