#!/usr/bin/env bash
# Runs every `go test -fuzz` target in the repository (every func FuzzXxx
# in a tracked _test.go file) for a fixed time each, and prints a table:
# target, executions, new corpus entries, result. Exits non-zero when a
# target finds a failure (go test then writes the input under the
# package's testdata/fuzz/, to commit with the fix).
#
#   tests/fuzz/run.sh                 # `make fuzz-smoke`: 2 s a target (part of `make test`)
#   FUZZTIME=60s tests/fuzz/run.sh    # `make fuzz`: the long run, figures in docs/benchmarks.md
#   SAVE=30 tests/fuzz/run.sh         # also copy up to 30 corpus entries a target from the
#                                     # fuzz cache into testdata/fuzz/, to commit
set -uo pipefail
cd "$(dirname "$0")/../.."
TIME=${FUZZTIME:-2s}
SAVE=${SAVE:-0}
cache=$(go env GOCACHE)/fuzz
mapfile -t targets < <(git ls-files '*_test.go' | xargs grep -H '^func Fuzz[A-Za-z0-9_]*(f \*testing.F)' |
	sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#; s#^[^/ ]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#. \1#' | sort -u)
printf '| target | fuzz time | executions | new corpus entries | result |\n|---|---|---:|---:|---|\n'
failed=0
start=$SECONDS
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	pkg=./$dir
	[ "$dir" = . ] && pkg=.
	out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$TIME" "$pkg" 2>&1)
	rc=$?
	retried=""
	if [ $rc -ne 0 ] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written to' <<<"$out"; then
		# Go's fuzzer sometimes reports the end of -fuzztime itself as a
		# failure on a loaded machine ("context deadline exceeded", no
		# failing input): run the target once more; a real failure fails again.
		out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$TIME" "$pkg" 2>&1)
		rc=$?
		retried=" (run twice: the first ended on go's \"context deadline exceeded\" with no failing input)"
	fi
	last=$(grep -E '^fuzz: elapsed:' <<<"$out" | tail -1)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	newc=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
	if [ $rc -ne 0 ]; then
		result="**FAIL**"; failed=1
	elif [ -z "$execs" ]; then
		# It passed without fuzzing: its seed corpus ran, but the fuzzer
		# never got past gathering baseline coverage in the time given (a
		# slow TestMain, say). Said so rather than counted as fuzzed.
		result="pass, **not fuzzed** (no executions in $TIME)"
	else
		result=pass$retried
	fi
	printf '| %s %s | %s | %s | %s | %s |\n' "${dir#./}" "$name" "$TIME" "${execs:-?}" "${newc:-?}" "$result"
	if [ $rc -ne 0 ]; then
		echo "$out" | tail -30 >&2
	fi
	if [ "$SAVE" -gt 0 ]; then
		ip=$(go list "$pkg")
		src=$cache/$ip/$name
		dst=$dir/testdata/fuzz/$name
		if [ -d "$src" ]; then
			mkdir -p "$dst"
			ls -t "$src" | head -n "$SAVE" | while read -r f; do [ -e "$dst/$f" ] || cp "$src/$f" "$dst/$f"; done
		fi
	fi
done
echo
echo "${#targets[@]} targets, $((SECONDS - start)) s"
exit $failed
