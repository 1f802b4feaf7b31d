#!/usr/bin/env bash
# What `exp run` adds to a command, on the 10,000-file repo of bench/snapshot.sh:
#  1. start-up/seal overhead: wall(exp run -- true) - wall(true), against the git CLI snapshot
#     recipe's wall time (goal: <= 1.5x), median of RUNS;
#  2. output throughput: a child writing 1 GB to stdout through `exp run` (pipe mode, stdout to
#     /dev/null) against the same command piped to `cat > /dev/null` (goal: >= 80%), median of 3:
#     streaming (from the command's start to its end, when its output has all passed through)
#     and the whole run (exp's start-up and sealing the record included);
#  3. output scalars: a child printing 1 GB of which a million lines are `step N loss=… acc: …`
#     (two metrics each, so 2 million points) through `exp run`, against the same child piped
#     to cat: throughput as in 2 (goal >= 80%) and exp's peak RSS (goal < 100 MB), median of 3.
#     The RSS is the largest of exp and its children (`/usr/bin/time -v`, else getrusage); the
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
began, ended = os.path.join(work, "began"), os.path.join(work, "ended")

def streamed(producer, through_exp):
    """(whole wall time, streaming time) of `producer` writing through exp run or a pipe to
    cat. Streaming is from the producer's start to its end, when its output has all passed
    through (exp forwards as it reads); exp's start-up before it (the snapshot, measured
    above) and the sealing after it are in the whole run only."""
    command = f"date +%s.%N > {began}; {producer}; date +%s.%N > {ended}"
    if through_exp:
        whole = wall([exp, "run", "--", "sh", "-c", command])
    else:
        whole = wall(f"( {command} ) | cat > /dev/null", shell=True)
    return whole, float(open(ended).read()) - float(open(began).read())

def report(label, pipe, through):
    pipe_s = statistics.median(w for w, _ in pipe)
    pipe_stream = statistics.median(s for _, s in pipe)
    exp_s = statistics.median(w for w, _ in through)
    exp_stream = statistics.median(s for _, s in through)
    print(label)
    print(f"  through a pipe to cat          {pipe_s:6.2f} s  {size / pipe_s / 1e6:8.0f} MB/s")
    print(f"  through exp run, streaming     {exp_stream:6.2f} s  {size / exp_stream / 1e6:8.0f} MB/s"
          f"   = {pipe_stream / exp_stream * 100:.0f}% of the pipe (goal >= 80%)")
    print(f"  through exp run, whole run     {exp_s:6.2f} s  {size / exp_s / 1e6:8.0f} MB/s"
          f"   = {pipe_s / exp_s * 100:.0f}% of the pipe (start-up and sealing included)")

producer = f"head -c {size} /dev/zero"
p, x = [], []
for _ in range(3):
    p.append(streamed(producer, False))
    x.append(streamed(producer, True))
report(f"{gigabytes:g} GB of output", p, x)

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
    p.append(streamed(f"python3 {generator}", False))
    x.append(streamed(f"python3 {generator}", True))
    rss.append(peak_rss_kb([exp, "run", "--", "python3", generator])[0])
    child_rss.append(peak_rss_kb(["python3", generator])[0])
name = subprocess.run([exp, "show", "latest", "--json"], cwd=repo, env=lib.env(), check=True,
                      stdout=subprocess.PIPE, text=True).stdout
import json
counts = {k: v["count"] for k, v in json.loads(name)["metrics"].items()}
print()
report(f"{gigabytes:g} GB with {scalar_lines:,} scalar lines (recorded: {counts})", p, x)
print(f"  peak RSS, exp run and child    {statistics.median(rss) / 1024:6.1f} MB"
      f"   (child alone {statistics.median(child_rss) / 1024:.1f} MB; goal < 100 MB)")
shutil.rmtree(work)
PY
