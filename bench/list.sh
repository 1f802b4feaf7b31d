#!/usr/bin/env bash
# Finding runs among thousands, on a repo filled with RUNS runs (default 10,000; each with
# 5 params and 10 metrics of 100 points), written straight through ExpCore by exp-bench:
#   exp list --limit 20 (index warm), exp list --where 'lr < 0.01' --sort val_loss --limit 10,
#   exp show min:val_loss: goal < 100 ms each; the first exp list after 1,000 new runs arrive by
#   git fetch: goal < 1 s; exp reindex: goal < 10 s. Floor: git for-each-ref refs/exp/runs | wc -l.
# Usage: bench/list.sh [REPEATS] [RUNS]   (EXP=path/to/exp; exp-bench is looked for beside it)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-7}" "${2:-10000}" <<'PY'
import os, shutil, subprocess, sys, tempfile, time, statistics
sys.path.insert(0, sys.argv[1])
import lib
repeats, count = int(sys.argv[2]), int(sys.argv[3])
exp = lib.exp_binary()
filler = lib.bench_binary(exp)
work = tempfile.mkdtemp(prefix="exp-bench-list-")
repo = os.path.join(work, "runs")
os.makedirs(repo)
lib.git(repo, "init", "-q", "-b", "main")
with open(os.path.join(repo, "train.py"), "w") as f:
    f.write("print('train')\n")
lib.git(repo, "add", "-A")
lib.git(repo, "commit", "-q", "-m", "base")

def run(argv, cwd=repo, shell=False):
    return subprocess.run(argv, cwd=cwd, env=lib.env(), shell=shell, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout

def wall(argv, shell=False):
    return lib.median_time(argv, repo, 1, shell=shell)[0]

start = time.perf_counter()
run([filler, "fill-runs", repo, str(count)])
print(f"exp: {exp}\nfilled {count} runs in {time.perf_counter() - start:.1f} s "
      f"(5 params, 10 metrics x 100 points each)\n")

def median_ms(argv, shell=False):
    wall(argv, shell=shell)  # warm
    return lib.median_time(argv, repo, repeats, shell=shell)[0] * 1000

rows = []
floor = median_ms("git for-each-ref refs/exp/runs | wc -l", shell=True)
rows.append(("git for-each-ref refs/exp/runs | wc -l (floor)", floor, None))
rows.append(("exp list --limit 20", median_ms([exp, "list", "--limit", "20"]), 100))
rows.append(("exp list --where 'lr < 0.01' --sort val_loss --limit 10",
             median_ms([exp, "list", "--where", "lr < 0.01", "--sort", "val_loss", "--limit", "10"]), 100))
rows.append(("exp show min:val_loss", median_ms([exp, "show", "min:val_loss"]), 100))

# 1,000 runs made in a clone arrive by fetch; the first exp list ingests them.
other = os.path.join(work, "other")
run(["git", "clone", "-q", repo, other], cwd=work)
run([filler, "fill-runs", other, "1000", str(count)])
fetched = []
for _ in range(3):
    # Forget what the last round fetched (the clone's own 1,000 runs), and let the index see that.
    run(f"git -C {other} for-each-ref --format='delete %(refname)' refs/exp/runs | git update-ref --stdin",
        shell=True)
    run([exp, "list", "--limit", "1"])
    run(["git", "fetch", "-q", other, "refs/exp/runs/*:refs/exp/runs/*"])
    fetched.append(wall([exp, "list", "--limit", "20"]))
rows.append(("first exp list after fetching 1,000 runs", statistics.median(fetched) * 1000, 1000))
reindex = [wall([exp, "reindex"]) for _ in range(3)]
rows.append((f"exp reindex ({count + 1000} runs)", statistics.median(reindex) * 1000, 10000))

for label, ms, goal in rows:
    verdict = "" if goal is None else (f"goal < {goal} ms: " + ("met" if ms < goal else "MISSED"))
    ratio = "" if goal is None else f"{ms / floor:6.1f}x floor"
    print(f"{label:58s} {ms:9.1f} ms  {ratio:14s} {verdict}")
shutil.rmtree(work, ignore_errors=True)
PY
