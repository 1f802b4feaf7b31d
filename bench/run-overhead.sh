#!/usr/bin/env bash
# What `exp run` adds to a command, on the 10,000-file repo of bench/snapshot.sh:
#  1. start-up/seal overhead: wall(exp run -- true) - wall(true), against the git CLI snapshot
#     recipe's wall time (goal: <= 1.5x), median of RUNS;
#  2. output throughput: a child writing 1 GB to stdout through `exp run` (pipe mode, stdout to
#     /dev/null) against the same command piped to `cat > /dev/null` (goal: >= 80%), median of 3;
#  3. output scalars: a child printing 1 GB of which a million lines are `step N loss=… acc: …`
#     (two metrics each, so 2 million points) through `exp run`, against the same child piped
#     to cat: throughput (goal >= 80%) and exp's peak RSS (goal < 100 MB), median of 3. The
#     RSS is the largest of exp and its children (`/usr/bin/time -v`, else getrusage); the
#     child alone is measured the same way and shown beside it.
# Usage: bench/run-overhead.sh [RUNS] [GB] [SCALAR_LINES]
#        (EXP=path/to/exp; default .build/release/exp; SKIP_SNAPSHOT=1 skips part 1)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-7}" "${2:-1}" "${3:-1000000}" <<'PY'
import os, shutil, subprocess, sys, tempfile, time, statistics
sys.path.insert(0, sys.argv[1])
import lib
runs, gigabytes, scalar_lines = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
skip_snapshot = os.environ.get("SKIP_SNAPSHOT") == "1"
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
for _ in range(0 if skip_snapshot else runs):
    g.append(wall(lib.GIT_RECIPE, shell=True))
    e.append(wall([exp, "run", "--", "true"]))
    t.append(wall(["true"]))
if skip_snapshot:
    e, t, g = [wall([exp, "run", "--", "true"]) for _ in range(3)], [wall(["true"]) for _ in range(3)], [1]
git_ms = statistics.median(g) * 1000
exp_ms = statistics.median(e) * 1000
true_ms = statistics.median(t) * 1000
added = exp_ms - true_ms
if not skip_snapshot:
    print(f"git snapshot recipe        {git_ms:8.1f} ms")
print(f"exp run -- true            {exp_ms:8.1f} ms   (true alone {true_ms:.1f} ms)")
if not skip_snapshot:
    print(f"added by exp               {added:8.1f} ms   = {added / git_ms:.2f}x the git recipe (goal <= 1.5x)")
print()

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

# 3. A million scalar lines in a gigabyte of output.
generator = os.path.join(work, "scalars.py")
with open(generator, "w") as f:
    f.write(f'''import sys
size, lines = {size}, {scalar_lines}
per_line = max(size // max(lines, 1), 40)
out = sys.stdout.buffer
step = 0
while step < lines:
    chunk = []
    for _ in range(min(1000, lines - step)):
        line = b"step %d loss=%.6f acc: %.4f " % (step, 1.0 / (step + 1), (step % 100) / 100)
        chunk.append(line + b"x" * (per_line - len(line) - 1) + b"\\n")
        step += 1
    out.write(b"".join(chunk))
''')
def peak_rss_kb(argv):
    """Peak RSS (KiB) of argv and its children, and its wall time."""
    start = time.perf_counter()
    if os.path.exists("/usr/bin/time"):
        done = subprocess.run(["/usr/bin/time", "-v"] + argv, cwd=repo, env=lib.env(), check=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        line = [l for l in done.stderr.splitlines() if "Maximum resident set size" in l][-1]
        return int(line.split(":")[1]), elapsed
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code] + argv, cwd=repo, env=lib.env(), check=True,
                          stdout=subprocess.PIPE, text=True)
    return int(done.stdout.strip()), time.perf_counter() - start
p, x, rss, child_rss = [], [], [], []
for _ in range(3):
    p.append(wall(f"python3 {generator} | cat > /dev/null", shell=True))
    kb, elapsed = peak_rss_kb([exp, "run", "--", "python3", generator])
    x.append(elapsed); rss.append(kb)
    child_rss.append(peak_rss_kb(["python3", generator])[0])
pipe_s, exp_s = statistics.median(p), statistics.median(x)
name = subprocess.run([exp, "show", "latest", "--json"], cwd=repo, env=lib.env(), check=True,
                      stdout=subprocess.PIPE, text=True).stdout
import json
counts = {k: v["count"] for k, v in json.loads(name)["metrics"].items()}
print(f"\n{gigabytes:g} GB with {scalar_lines:,} scalar lines (recorded: {counts})")
print(f"  through a pipe to cat          {pipe_s:6.2f} s  {size / pipe_s / 1e6:8.0f} MB/s")
print(f"  through exp run                {exp_s:6.2f} s  {size / exp_s / 1e6:8.0f} MB/s"
      f"   = {pipe_s / exp_s * 100:.0f}% of the pipe, whole run (goal >= 80%)")
print(f"  peak RSS, exp run and child    {statistics.median(rss) / 1024:6.1f} MB"
      f"   (child alone {statistics.median(child_rss) / 1024:.1f} MB; goal < 100 MB)")
shutil.rmtree(work)
PY
