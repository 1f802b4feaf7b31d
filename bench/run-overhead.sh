#!/usr/bin/env bash
# What `exp run` adds to a command, on the 10,000-file repo of bench/snapshot.sh:
#  1. start-up/seal overhead: wall(exp run -- true) - wall(true), against the git CLI snapshot
#     recipe's wall time (goal: <= 1.5x), median of RUNS;
#  2. output throughput: a child writing 1 GB to stdout through `exp run` (pipe mode, stdout to
#     /dev/null) against the same command piped to `cat > /dev/null` (goal: >= 80%), median of 3.
# Usage: bench/run-overhead.sh [RUNS] [GB]   (EXP=path/to/exp; default .build/release/exp)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-7}" "${2:-1}" <<'PY'
import os, shutil, subprocess, sys, tempfile, time, statistics
sys.path.insert(0, sys.argv[1])
import lib
runs, gigabytes = int(sys.argv[2]), float(sys.argv[3])
exp = lib.exp_binary()
work = tempfile.mkdtemp(prefix="exp-bench-run-")
repo = os.path.join(work, "r10000")
lib.make_repo(repo, tracked=10_000, folders=100, untracked=1_000)
print(f"exp: {exp}\nrepo: 10,000 tracked files, 1,000 untracked, 5 modified, 200 MB ignored\n")

def wall(argv, shell=False, stdout=subprocess.DEVNULL):
    start = time.perf_counter()
    subprocess.run(argv, cwd=repo, env=lib.env(), shell=shell, check=True, stdout=stdout, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start

# Warm-up, then interleave the three measurements so drift hits them alike.
wall(lib.GIT_RECIPE, shell=True); wall([exp, "run", "--", "true"]); wall(["true"])
g, e, t = [], [], []
for _ in range(runs):
    g.append(wall(lib.GIT_RECIPE, shell=True))
    e.append(wall([exp, "run", "--", "true"]))
    t.append(wall(["true"]))
git_ms = statistics.median(g) * 1000
exp_ms = statistics.median(e) * 1000
true_ms = statistics.median(t) * 1000
added = exp_ms - true_ms
print(f"git snapshot recipe        {git_ms:8.1f} ms")
print(f"exp run -- true            {exp_ms:8.1f} ms   (true alone {true_ms:.1f} ms)")
print(f"added by exp               {added:8.1f} ms   = {added / git_ms:.2f}x the git recipe (goal <= 1.5x)\n")

size = int(gigabytes * 1_000_000_000)
producer = f"head -c {size} /dev/zero"
p, x = [], []
for _ in range(3):
    p.append(wall(producer + " | cat > /dev/null", shell=True))
    x.append(wall([exp, "run", "--", "sh", "-c", producer]))
pipe_s, exp_s = statistics.median(p), statistics.median(x)
print(f"{gigabytes:g} GB through a pipe to cat  {pipe_s:6.2f} s  {size / pipe_s / 1e6:8.0f} MB/s")
print(f"{gigabytes:g} GB through exp run        {exp_s:6.2f} s  {size / exp_s / 1e6:8.0f} MB/s"
      f"   = {pipe_s / exp_s * 100:.0f}% of the pipe, whole run (goal >= 80%)")
# The whole run includes exp's fixed start-up and sealing (measured above with `true`);
# what the output itself passes through at is the rest.
streaming = max(exp_s - (exp_ms - true_ms) / 1000, 1e-9)
print(f"  of which streaming            {streaming:6.2f} s  {size / streaming / 1e6:8.0f} MB/s"
      f"   = {pipe_s / streaming * 100:.0f}% of the pipe, without the fixed {exp_ms - true_ms:.0f} ms")
shutil.rmtree(work)
PY
