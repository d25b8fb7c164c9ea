#!/bin/sh
# Runs the chaos test's short round N times (default 10) with seeds BASE..BASE+N-1 and counts
# the passes: `sh test/chaos/repeat.sh [N] [BASE] [MINUTES]`. Needs `npm run build` first.
n=${1:-10}
base=${2:-20261126}
minutes=${3:-1}
passed=0
i=0
while [ "$i" -lt "$n" ]; do
  seed=$((base + i))
  if node --import tsx test/chaos/run.ts --minutes "$minutes" --seed "$seed" --nodes 3 > "/tmp/coraft-chaos-repeat-$seed.log" 2>&1; then
    passed=$((passed + 1)); echo "seed $seed: passed"
  else
    echo "seed $seed: FAILED (see /tmp/coraft-chaos-repeat-$seed.log)"; tail -5 "/tmp/coraft-chaos-repeat-$seed.log"
  fi
  i=$((i + 1))
done
echo "$passed of $n rounds passed"
[ "$passed" -eq "$n" ]
