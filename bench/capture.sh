#!/bin/bash
# Output-capture quality on the training-log corpus (Tests/ExpCoreTests/Fixtures/logs): each
# NAME.txt goes through `exp run -- cat` in a temp repo, and the run's points (`exp metrics
# --json`) are compared with NAME.expected, as OutputCorpusTests does with the parser alone:
# an expected point is found when a recorded point has its key, its value (as a number) and its
# step (`-`: the step is not checked); each recorded point matches once, and recorded points
# left over are spurious; must-not keys are counted apart.
# Prints a table per program, then the overall line (issue 15: recall >= 97% overall, no program
# below 90%, spurious <= 2%, no must-not key).
# Usage: bench/capture.sh   (EXP=path/to/exp; default .build/release/exp; VERBOSE=1 lists the
# missed and spurious points)
#
# bench/capture.sh speed BASE_EXP [MB]: the parser's throughput instead, against BASE_EXP (an
# exp built from the commit to compare with, in release): `exp run -- cat LOG` on two logs of
# MB megabytes each (default 200): run-overhead.sh's scalar lines (`step N loss=… acc: …`
# padded to 1000 bytes) and the corpus logs repeated; `cat LOG` alone is the floor. Prints the
# median wall and CPU seconds of 5 alternated runs each, and the ratio to BASE_EXP.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
EXP=${EXP:-$root/.build/release/exp}
EXP=$(cd "$(dirname "$EXP")" && pwd)/$(basename "$EXP")
corpus=$root/Tests/ExpCoreTests/Fixtures/logs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q -b main
git config user.email bench@example.com
git config user.name bench
echo x >f
git add f
git commit -qm base
if [ "${1:-}" = speed ]; then
    BASE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
    python3 - "$EXP" "$BASE" "${3:-200}" "$corpus" <<'PY'
import glob, os, statistics, subprocess, sys, time
new, base, megabytes, corpus = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
size = megabytes * 1024 * 1024
with open("scalars.log", "wb") as out:
    step = 0
    while out.tell() < size:
        chunk = []
        for _ in range(1000):
            line = b"step %d loss=%.6f acc: %.4f " % (step, 1.0 / (step + 1), (step % 100) / 100)
            chunk.append(line + b"x" * (1000 - len(line) - 1) + b"\n")
            step += 1
        out.write(b"".join(chunk))
logs = b"".join(open(f, "rb").read() for f in sorted(glob.glob(os.path.join(corpus, "*.txt"))))
with open("corpus.log", "wb") as out:
    while out.tell() < size:
        out.write(logs * 100)
def timed(argv):
    start = time.perf_counter()
    before = os.times()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return time.perf_counter() - start, cpu
for log in ["scalars.log", "corpus.log"]:
    results = {"cat": [], "base": [], "new": []}
    for _ in range(5):
        results["cat"].append(timed(["cat", log]))
        results["base"].append(timed([base, "run", "--", "cat", log]))
        results["new"].append(timed([new, "run", "--", "cat", log]))
    median = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in results.items()}
    print(f"{log} ({os.path.getsize(log) / 1e6:.0f} MB): cat {median['cat'][0]:.2f}s wall; "
          f"base {median['base'][0]:.2f}s wall {median['base'][1]:.2f}s cpu; "
          f"new {median['new'][0]:.2f}s wall {median['new'][1]:.2f}s cpu; "
          f"new/base wall {median['new'][0] / median['base'][0]:.3f}, cpu {median['new'][1] / median['base'][1]:.3f}")
PY
    exit
fi
mkdir -p "$work/records"
for log in "$corpus"/*.txt; do
    name=$(basename "$log" .txt)
    [ -f "$corpus/$name.expected" ] || continue
    cp "$log" in.txt
    "$EXP" run -- cat in.txt >/dev/null 2>&1
    "$EXP" metrics latest --json >"$work/records/$name.json" 2>/dev/null || echo "{}" >"$work/records/$name.json"
done
python3 - "$corpus" "$work/records" <<'PY'
import json, math, os, sys
corpus, records = sys.argv[1], sys.argv[2]

def same(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))

def points(document):
    """(key, value, step) of every recorded point, whatever the JSON's shape."""
    found = []
    def walk(node, key=None):
        if isinstance(node, dict):
            if "value" in node and isinstance(node.get("value"), (int, float, str)):
                value = node["value"]
                value = float(value) if not isinstance(value, str) else float(value.replace("Infinity", "inf"))
                found.append((node.get("key", key), value, node.get("step")))
                return
            for k, v in node.items():
                walk(v, k if key is None or k not in ("points", "values") else key)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
    walk(document)
    return found

rows, totals = [], [0, 0, 0, 0, 0]
for name in sorted(f[:-9] for f in os.listdir(corpus) if f.endswith(".expected")):
    lines = [l.split() for l in open(os.path.join(corpus, name + ".expected")) if l.strip() and not l.startswith("#")]
    want = [(l[0], float(l[1]), None if l[2] == "-" else float(l[2])) for l in lines if not l[0].startswith("!")]
    banned = [l[0][1:] for l in lines if l[0].startswith("!")]
    try:
        got = points(json.load(open(os.path.join(records, name + ".json"))))
    except Exception:
        got = []
    used = [False] * len(got)
    found = 0
    for key, value, step in want:
        for i, (k, v, s) in enumerate(got):
            if not used[i] and k == key and same(v, value) and (step is None or s == step):
                used[i] = True
                found += 1
                break
    spurious = used.count(False)
    if os.environ.get("VERBOSE"):
        taken = [False] * len(got)
        for key, value, step in want:
            hit = next((i for i, (k, v, s) in enumerate(got) if not taken[i] and k == key and same(v, value) and (step is None or s == step)), None)
            if hit is None:
                print(f"  {name}: missed {key} {value} {step}")
            else:
                taken[hit] = True
        for i, point in enumerate(got):
            if not used[i]:
                print(f"  {name}: spurious {point}")
    forbidden = sorted({k for k, _, _ in got if k in banned})
    rows.append((name, len(want), found, len(got), spurious, forbidden))
    for i, n in enumerate((len(want), found, len(got), spurious, len(forbidden))):
        totals[i] += n

print(f"{'program':26s} {'expected':>8s} {'found':>6s} {'recall':>7s} {'read':>5s} {'spurious':>8s} {'rate':>6s}  must-not")
for name, want, found, got, spurious, forbidden in rows:
    recall = 100.0 * found / want if want else 100.0
    rate = 100.0 * spurious / got if got else 0.0
    print(f"{name:26s} {want:8d} {found:6d} {recall:6.1f}% {got:5d} {spurious:8d} {rate:5.1f}%  {' '.join(forbidden) or '-'}")
want, found, got, spurious, forbidden = totals
worst = min((100.0 * f / w if w else 100.0) for _, w, f, _, _, _ in rows) if rows else 0.0
print(f"overall: {len(rows)} programs, recall {found}/{want} = {100.0 * found / max(want, 1):.1f}%, "
      f"lowest program {worst:.1f}%, spurious {spurious}/{got} = {100.0 * spurious / max(got, 1):.1f}%, "
      f"must-not keys {forbidden}")
PY
