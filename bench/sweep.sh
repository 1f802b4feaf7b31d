#!/usr/bin/env bash
# exp sweep: 40 runs of a command that exits at once, -j 2, on the 10,000-file repo of
# bench/snapshot.sh; time per run (sweep wall time / 40) against `git worktree add --detach`
# + `git worktree remove` of the same commit, 40 times in a shell loop, measured in the same
# run. Prints medians over ROUNDS (default 3) and the ratio (goal: <= 1.5x).
# With DVC installed (`dvc` on PATH, or EXP_BENCH_DVC=/path/to/dvc), also DVC's figure on a copy
# of the same repo: `dvc exp run --queue -S i=N` EXP_BENCH_DVC_RUNS times (default 10: each takes
# seconds) then `dvc queue start -j 2` until `dvc queue status` shows none queued or running
# (at most 30 minutes), once.
# (pip install dvc; not installed by make.)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-3}" <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile, time
here, rounds = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, here)
import lib
exp = os.environ.get("EXP_BINARY") or os.path.join(os.path.dirname(here), ".build", "release", "exp")
if not os.path.exists(exp):
    exp = os.path.join(os.path.dirname(here), ".build", "debug", "exp")
work = tempfile.mkdtemp(prefix="exp-bench-sweep-")
repo = os.path.join(work, "repo")
lib.make_repo(repo, tracked=10_000, folders=100, untracked=0, modified=0, ignored_mb=0)
subprocess.run(["git", "-C", repo, "add", "-A"], check=True)
subprocess.run(["git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "all", "--allow-empty"], check=True)
exp_times, git_times = [], []
for round in range(rounds):
    start = time.perf_counter()
    subprocess.run([exp, "sweep", "-p", "i=range(0,40)", "-j", "2", "--name", f"b{round}", "--", "true", "{i}"],
                   cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    exp_times.append((time.perf_counter() - start) / 40)
    start = time.perf_counter()
    subprocess.run(["bash", "-c", "for i in $(seq 40); do git worktree add -q --detach ../wt HEAD && git worktree remove --force ../wt; done"],
                   cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    git_times.append((time.perf_counter() - start) / 40)
e, g = statistics.median(exp_times), statistics.median(git_times)
print(f"exp sweep, per run (40 runs, -j 2): {e*1000:.0f} ms")
print(f"git worktree add --detach + remove, per run: {g*1000:.0f} ms")
print(f"ratio: {e/g:.2f}x (goal <= 1.5x)")
dvc = os.environ.get("EXP_BENCH_DVC") or shutil.which("dvc")
if dvc:
    count = int(os.environ.get("EXP_BENCH_DVC_RUNS", "10"))
    copy = os.path.join(work, "dvc")
    subprocess.run(["git", "clone", "-q", repo, copy], check=True)
    with open(os.path.join(copy, "params.yaml"), "w") as f:
        f.write("i: 0\n")
    with open(os.path.join(copy, "dvc.yaml"), "w") as f:
        f.write("stages:\n  run:\n    cmd: true ${i}\n    params:\n      - i\n")
    # DVC's queue workers start `dvc` again: it must be on PATH.
    env = dict(os.environ, PATH=os.path.dirname(os.path.abspath(dvc)) + os.pathsep + os.environ.get("PATH", ""))
    quiet = dict(cwd=copy, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([dvc, "init", "-q"], **quiet)
    subprocess.run(["git", "add", "-A"], **quiet)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "dvc"], **quiet)
    start = time.perf_counter()
    for i in range(count):
        subprocess.run([dvc, "exp", "run", "--queue", "-q", "-S", f"i={i}"], **quiet)
    queued = time.perf_counter() - start
    subprocess.run([dvc, "queue", "start", "-j", "2"], **quiet)
    status = ""
    while time.perf_counter() - start < 1800:
        status = subprocess.run([dvc, "queue", "status"], cwd=copy, env=env, capture_output=True, text=True).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(0.5)
    d = (time.perf_counter() - start) / count
    done = status.count("Success")
    subprocess.run([dvc, "queue", "stop"], cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"dvc exp run --queue x{count} + dvc queue start -j 2, per run: {d*1000:.0f} ms "
          f"(queueing {queued/count*1000:.0f} ms of it; {done} of {count} succeeded)")
    print(f"dvc / exp: {d/e:.1f}x")
else:
    print("dvc: not installed (pip install dvc, then run again for DVC's figure)")
PY
