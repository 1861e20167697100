#!/bin/bash
# Score lookups for subjects process 1 owns: asked of process 1 (answered there) and of process
# 0 (forwarded to 1), with wrk. Run from the repository after intake.sh, on the cluster it left
# in /tmp/bi.
set -e
B=$(realpath ${STANDING:-target/release/standing})
LUA=$(realpath crates/standing-gateway/benches/owned.lua)
cd /tmp/bi; pkill -f "standing serve" || true; sleep 0.5
python3 - <<'PY'
M=(1<<64)-1
def owner(s, n):
    h=0xCBF29CE484222325
    for b in s.encode():
        h^=b; h=(h*0x100000001B3)&M
    z=(h+0x9E3779B97F4A7C15)&M
    z=((z^(z>>30))*0xBF58476D1CE4E5B9)&M
    z=((z^(z>>27))*0x94D049BB133111EB)&M
    return (z^(z>>31))%n
assert [owner(s,3) for s in ["p-1","p-2","p-3","org-77",""]]==[1,0,0,0,0]
open("owned-by-1","w").write("".join(f"p-{i}\n" for i in range(100000) if owner(f"p-{i}",3)==1))
PY
KEY=$($B keys create --role consumer --purpose lending.consumer -d p0 2>&1 | grep -o 'stk_[A-Za-z0-9_]*' | head -1)
for i in 0 1 2; do STANDING_CLOCK_SECS=3600 STANDING_WORKERS=1 $B serve --cluster cluster.toml --process $i > p$i.log 2>&1 & done
for i in $(seq 100); do grep -q "all 3 processes" p0.log && grep -q "all 3 processes" p1.log && break; sleep 0.2; done
sleep 2
run() { KEY=$KEY SUBJECTS_FILE=owned-by-1 wrk -t1 -c${C:-16} -d${D:-20}s --latency -s $LUA http://$1 | grep -E "Requests/sec|50%|90%|99%|Non-2xx"; }
for round in 1 2; do
  echo "-- round $round: at the owner (process 1)"; run 127.0.0.1:18301
  echo "-- round $round: through process 0 (forwarded)"; run 127.0.0.1:18300
done
pkill -f "standing serve" || true
