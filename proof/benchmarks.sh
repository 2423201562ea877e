#!/usr/bin/env bash
# Runs every benchmark BENCHMARKS.md reports, each with -count=N (default 3), and
# prints the 1-minute load average before and after each, so that a figure
# measured on a busy machine can be told from one measured on a quiet machine.
# Loopback and the MariaDB of internal/mysqltest only; about 10 minutes.
#
#   proof/benchmarks.sh [count] > bench.txt
#
# The site-level figures come from the proof tests in their heavy mode:
#
#   CONSENTKIT_PROOF_FULL=1 CONSENTKIT_REQUIRE_MYSQL=1 go test -count=1 -v -timeout 30m ./proof/
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}
export CONSENTKIT_REQUIRE_MYSQL=1

run() {
	local pkg=$1 bench=$2
	shift 2
	echo "### $pkg $bench $* (load before: $(cut -d' ' -f1 /proc/loadavg))"
	go test -run '^$' -bench "$bench" -count "$count" "$@" "$pkg" | grep -E '^(Benchmark|cpu:)'
	echo "### load after: $(cut -d' ' -f1 /proc/loadavg)"
}

echo "### machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/^Mem:/{print $2}') GiB, $(go version | cut -d' ' -f3), $(mysql -uroot -h127.0.0.1 -N -e 'SELECT VERSION()' 2>/dev/null || echo 'MariaDB ?')"
run ./tracking/ '^BenchmarkMiddleware$'
run ./tracking/mysqlstore/ '^BenchmarkLoad$' -benchtime=1x
run ./privacy/mysqlstore/ '^BenchmarkOutbox$' -benchtime=5000x
run ./newsletter/mysqlstore/ '^BenchmarkCampaignSend$' -benchtime=1x
run ./accounts/ '^BenchmarkHash$'
run ./accounts/ '^BenchmarkSignInLoad$' -benchtime=1x
run ./comments/ '^BenchmarkThread1000$'
run ./proof/ '^BenchmarkSubjectExport$'
run ./proof/ '^BenchmarkSubjectErase$' -benchtime=1x
