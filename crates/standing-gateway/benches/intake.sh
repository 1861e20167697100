#!/bin/bash
# Durable intake through one process: a single node, then a 3-process cluster (records spread
# over all owners, each body sent to process 0). Prints events/s for each. Run from the
# repository after `cargo build --release`; PEOPLE and EVENTS size the city.
set -e
B=$(realpath ${STANDING:-target/release/standing})
T=/tmp/bi; pkill -f "standing serve" || true; sleep 0.5; rm -rf $T; mkdir -p $T; cd $T
PEOPLE=${PEOPLE:-100000}; EVENTS=${EVENTS:-1000000}
$B generate --people $PEOPLE --events $EVENTS -o events.ndjson 2>/dev/null
split -l 20000 -d -a 3 events.ndjson body.
for d in single p0 p1 p2; do $B init $d >/dev/null 2>&1; rm -rf $d/log $d/snapshots $d/sample-events.ndjson; done
printf 'secret_file = "cluster.secret"\ntimeout_ms = 2000\n' > cluster.toml
for i in 0 1 2; do printf '[[process]]\nhttp = "127.0.0.1:1830%d"\ntimely = "127.0.0.1:1840%d"\ndata = "p%d"\n' $i $i $i >> cluster.toml; done
echo "secret-for-bench" > cluster.secret
key() { $B keys create --role operator -d $1 2>&1 | grep -o 'stk_[A-Za-z0-9_]*' | head -1; }
SKEY=$(key single); KEY=$(key p0)
post() { # address key
  local start=$(date +%s.%N) accepted=0
  for f in body.*; do
    n=$(curl -s -XPOST -H "Content-Type: application/x-ndjson" -H "Authorization: Bearer $2" --data-binary @$f http://$1/v1/events | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("accepted", 0)) if d.get("durable") else print("ERR", d)')
    accepted=$((accepted + n))
  done
  local end=$(date +%s.%N)
  echo "$3: $accepted events accepted and durable in $(echo "$end - $start" | bc) s = $(echo "$accepted / ($end - $start)" | bc) events/s"
}
STANDING_CLOCK_SECS=3600 $B serve -d single --listen 127.0.0.1:18399 > single.log 2>&1 &
sleep 2
post 127.0.0.1:18399 $SKEY "1 process "
pkill -f "standing serve -d single"; sleep 1
for i in 0 1 2; do STANDING_CLOCK_SECS=3600 $B serve --cluster cluster.toml --process $i > p$i.log 2>&1 & done
for i in $(seq 50); do grep -q "all 3 processes" p0.log && break; sleep 0.2; done
post 127.0.0.1:18300 $KEY "3 processes"
for p in 0 1 2; do echo "p$p log: $(du -sb p$p/log | cut -f1) bytes"; done
curl -s -XPOST -H "Authorization: Bearer $KEY" http://127.0.0.1:18301/v1/clock | head -c 600; echo
pkill -f "standing serve" || true
