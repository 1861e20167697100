#!/usr/bin/env python3
"""The kill -9 trial of a 3-process cluster on 127.0.0.1.

Each trial starts a fresh cluster (the city model, its network on), sends a synthetic city's
events and relations in bodies of 2,000 to processes picked at random, and meanwhile kills one
process with SIGKILL and starts it again. Every record a process acknowledged (status accepted
or duplicate) is counted; the others are sent again until all are acknowledged. Then:

- lost: the whole set is sent once more; a record acknowledged before and accepted now was
  lost (it must come back a duplicate);
- scores: the clock is moved across the cluster and on a single node fed the same events once;
  sampled subjects must have the same behaviour score and network scores within 2ε (plus the
  hundredth both are rounded to).

    python3 crates/standing-gateway/benches/kill_trial.py target/release/standing /tmp/kt \\
        --trials 10
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

EPSILON = 0.01


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def request(address, method, path, key, body=b"", kind="application/json", timeout=60):
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path, body=body, headers={
            "Authorization": f"Bearer {key}", "Content-Type": kind})
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        connection.close()


class Process:
    """A `standing serve` child; its standard error read by a thread."""

    def __init__(self, binary, args, workdir):
        self.lines = []
        self.child = subprocess.Popen(
            [binary, *args], cwd=workdir, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "STANDING_CLOCK_SECS": "3600"})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.child.stderr:
            self.lines.append(line.rstrip())

    def wait_for(self, needle, within=60):
        deadline = time.time() + within
        while time.time() < deadline:
            if any(needle in line for line in self.lines):
                return
            if self.child.poll() is not None:
                raise RuntimeError(f"it stopped before `{needle}`: {self.lines[-5:]}")
            time.sleep(0.05)
        raise RuntimeError(f"no `{needle}` within {within} s: {self.lines[-5:]}")

    def kill(self):
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGKILL)
        self.child.wait()


def key(binary, data, *how):
    out = subprocess.run([binary, "keys", "create", "-d", data, *how],
                         capture_output=True, text=True, check=True)
    return next(w for w in (out.stdout + out.stderr).split() if w.startswith("stk_"))


def data_directory(binary, path):
    subprocess.run([binary, "init", path], capture_output=True, check=True)
    for generated in ["log", "snapshots"]:
        shutil.rmtree(os.path.join(path, generated), ignore_errors=True)
    os.remove(os.path.join(path, "sample-events.ndjson"))


def events(binary, workdir, people, count, relations, seed):
    out = subprocess.run([binary, "generate", "--people", str(people), "--events", str(count),
                          "--seed", str(seed)], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    rng = random.Random(seed)
    kinds = ["friend", "family", "colleague"]
    for i in range(relations):
        a, b = rng.randrange(people), rng.randrange(people)
        if a == b:
            continue
        lines.append(json.dumps({
            "id": f"rel-{seed}-{i}", "source": "social-app", "subject": f"p-{a}",
            "type": "relation.added", "occurred_at": "2026-05-01T00:00:00Z",
            "fields": {"other": f"p-{b}", "kind": rng.choice(kinds)}}))
    rng.shuffle(lines)
    return lines


def send_all(lines, addresses, operator, on_batch=None, on_results=None):
    """Sends every line until each is acknowledged; returns (acknowledged ids, answers seen)."""
    pending = [lines[i:i + 2000] for i in range(0, len(lines), 2000)]
    acknowledged, refusals = set(), 0
    while pending:
        batch = pending.pop(0)
        address = random.choice(addresses)
        try:
            status, answer = request(address, "POST", "/v1/events", operator,
                                     "\n".join(batch).encode(), "application/x-ndjson")
        except (OSError, http.client.HTTPException):
            pending.append(batch)
            refusals += 1
            time.sleep(0.05)
            continue
        results = (answer or {}).get("results") or []
        if status not in (200, 503) or len(results) != len(batch):
            pending.append(batch)
            refusals += 1
            time.sleep(0.05)
            continue
        if on_results:
            on_results(batch, [r for r in results if r["status"] != "unavailable"])
        again = []
        for line, result in zip(batch, results):
            if result["status"] in ("accepted", "duplicate"):
                acknowledged.add((result["source"], result["id"]))
            else:
                again.append(line)
        if again:
            pending.append(again)
            refusals += 1
        if on_batch:
            on_batch()
    return acknowledged, refusals


def trial(args, number):
    workdir = os.path.join(args.workdir, f"trial-{number}")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    binary = os.path.abspath(args.binary)
    ports = free_ports(7)
    http_ports, timely_ports, single_port = ports[:3], ports[3:6], ports[6]
    with open(os.path.join(workdir, "cluster.toml"), "w") as f:
        f.write('secret_file = "cluster.secret"\ntimeout_ms = 2000\n')
        for p in range(3):
            data_directory(binary, os.path.join(workdir, f"p{p}"))
            f.write(f'[[process]]\nhttp = "127.0.0.1:{http_ports[p]}"\n'
                    f'timely = "127.0.0.1:{timely_ports[p]}"\ndata = "p{p}"\n')
    with open(os.path.join(workdir, "cluster.secret"), "w") as f:
        f.write(f"a-secret-for-kill-trial-{number}\n")
    operator = key(binary, os.path.join(workdir, "p0"), "--role", "operator")
    lines = events(binary, workdir, args.people, args.events, args.relations, number)
    addresses = [f"127.0.0.1:{p}" for p in http_ports]

    def start(p):
        return Process(binary, ["serve", "--cluster", "cluster.toml", "--process", str(p)],
                       workdir)

    processes = [start(p) for p in range(3)]
    single = None
    try:
        for running in processes:
            running.wait_for("all 3 processes of the cluster answer")
        # Keys reach the other processes within about a second.
        time.sleep(2)
        victim = random.randrange(3)
        batches = len(lines) // 2000
        kill_after = random.randrange(batches // 5, batches // 2)
        sent = [0]
        killed = {}

        def killer():
            while sent[0] < kill_after:
                time.sleep(0.005)
            processes[victim].kill()
            killed["at_batch"] = sent[0]
            time.sleep(args.down)
            processes[victim] = start(victim)
            processes[victim].wait_for("serving")
            killed["back_at_batch"] = sent[0]

        thread = threading.Thread(target=killer)
        thread.start()
        started = time.time()

        def count():
            sent[0] += 1

        acknowledged, refusals = send_all(lines, addresses, operator, count)
        elapsed = time.time() - started
        thread.join()
        for running in processes:
            running.wait_for("all 3 processes of the cluster answer")
        # Lost: acknowledged, then accepted when sent again (every record must come back a
        # duplicate; one a process did not answer in time is asked again).
        statuses = {}

        def note(batch, results):
            for result in results:
                statuses[(result["source"], result["id"])] = result["status"]

        send_all(lines, addresses, operator, on_results=note)
        lost = sum(1 for record, status in statuses.items()
                   if status == "accepted" and record in acknowledged)
        not_duplicate = sum(1 for status in statuses.values() if status != "duplicate")
        # Scores against a single node fed the same events once.
        single_dir = os.path.join(workdir, "single")
        data_directory(binary, single_dir)
        single_key = key(binary, single_dir, "--role", "operator")
        single = Process(binary, ["serve", "-d", "single", "--listen",
                                  f"127.0.0.1:{single_port}"], workdir)
        single.wait_for("serving")
        single_address = f"127.0.0.1:{single_port}"
        status, _ = request(single_address, "POST", "/v1/events", single_key,
                            "\n".join(lines).encode(), "application/x-ndjson", timeout=300)
        assert status == 200
        status, moved = request(addresses[1], "POST", "/v1/clock", operator, timeout=300)
        assert status == 200, moved
        status, _ = request(single_address, "POST", "/v1/clock", single_key, timeout=300)
        assert status == 200
        worst, differing, shown = 0.0, 0, []
        for subject in random.sample(range(args.people), args.sample):
            path = f"/v1/subjects/p-{subject}/score"
            s_status, want = request(single_address, "GET", path, single_key)
            c_status, got = request(random.choice(addresses), "GET", path, operator)
            if s_status != c_status or (s_status == 200 and got["behaviour"] != want["behaviour"]):
                differing += 1
                shown.append({"subject": f"p-{subject}", "single": [s_status, want],
                              "cluster": [c_status, got]})
                continue
            if s_status != 200:
                continue
            worst = max(worst, abs(got["score"] - want["score"]))
        contacts = sum(p["contacts_elsewhere"] for p in moved["network"])
        tolerance = 2 * EPSILON + 0.01 + 1e-9
        return {
            "trial": number, "events": len(lines), "acknowledged": len(acknowledged),
            "victim": victim, "killed_at_batch": killed.get("at_batch"),
            "back_at_batch": killed.get("back_at_batch"), "batches": batches,
            "resent_batches": refusals, "seconds": round(elapsed, 2),
            "lost": lost, "not_duplicate_on_resend": not_duplicate,
            "contacts_elsewhere": contacts, "sampled": args.sample,
            "differing": differing, "differences": shown[:3], "worst_network_difference": round(worst, 4),
            "ok": lost == 0 and not_duplicate == 0 and differing == 0 and worst <= tolerance,
        }
    finally:
        for running in processes:
            running.kill()
        if single:
            single.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("workdir")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--events", type=int, default=200000)
    parser.add_argument("--relations", type=int, default=30000)
    parser.add_argument("--down", type=float, default=1.0, help="seconds the victim stays down")
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args()
    results = []
    for number in range(args.trials):
        result = trial(args, number)
        print(json.dumps(result), flush=True)
        results.append(result)
    lost = sum(r["lost"] for r in results)
    failed = [r["trial"] for r in results if not r["ok"]]
    print(f"{len(results)} trials, {sum(r['acknowledged'] for r in results)} events "
          f"acknowledged, {lost} lost, trials failing a check: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
