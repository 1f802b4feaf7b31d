#!/usr/bin/env bash
# Plotting speed (issue 17, item 7), on runs written straight through ExpCore by exp-bench:
#  1. exp plot of RUNS runs x POINTS points of one key (default 10 x 1,000,000): goal < 1 s,
#     median of REPEATS, warm (the series cache filled) and first (the cache emptied before
#     each), against the baseline of reading the same points with
#     `exp metrics RUN… --csv > /dev/null` (every point parsed and printed), and the floor
#     of inflating the same metrics.jsonl blobs with `git cat-file --batch`;
#  2. exp plot --follow, in a pseudo-terminal, on a live run logging RATE points a second
#     (default 10,000) for SECONDS seconds (default 10): its CPU share of one core (user +
#     system time of exp plot, from wait4, over the wall time it ran): goal < 5%. Twice: the
#     run printing `step=N loss=…` lines (output scalars) and appending JSON lines to
#     EXP_METRICS_FILE. The run's own cost (exp run) is not counted.
# Usage: bench/plot.sh [REPEATS] [RUNS] [POINTS] [RATE] [SECONDS]
#        (EXP=path/to/exp; exp-bench is looked for beside it)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-5}" "${2:-10}" "${3:-1000000}" "${4:-10000}" "${5:-10}" <<'PY'
import os, pty, shutil, subprocess, sys, tempfile, threading, time, statistics
sys.path.insert(0, sys.argv[1])
import lib
repeats, runs, points, rate, seconds = (int(a) for a in sys.argv[2:7])
exp = lib.exp_binary()
filler = lib.bench_binary(exp)
work = tempfile.mkdtemp(prefix="exp-bench-plot-")
repo = os.path.join(work, "repo")
os.makedirs(repo)
lib.git(repo, "init", "-q", "-b", "main")
with open(os.path.join(repo, "train.py"), "w") as f:
    f.write("print('train')\n")
lib.git(repo, "add", "-A")
lib.git(repo, "commit", "-q", "-m", "base")
env = lib.env()
env["COLUMNS"] = "120"

start = time.perf_counter()
subprocess.run([filler, "fill-series", repo, str(runs), str(points)], cwd=repo, env=env, check=True)
names = [f"series-{i}" for i in range(runs)]
print(f"exp: {exp}\nwrote {runs} runs x {points:,} points of loss in {time.perf_counter() - start:.1f} s\n")

def median_s(argv, shell=False):
    subprocess.run(argv, cwd=repo, env=env, shell=shell, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm
    return lib.median_time(argv, repo, repeats, env_extra={"COLUMNS": "120"}, shell=shell)[0]

# The floor: only reading the records' metrics.jsonl out of git (inflating them), one process.
floor = median_s("git for-each-ref --format='%(objectname):metrics.jsonl' refs/exp/runs "
                 "| git cat-file --batch > /dev/null", shell=True)
# First plot (the series cache under .git/exp/series emptied before each), then warm.
series_cache = os.path.join(repo, ".git", "exp", "series")
cold = median_s(f"rm -rf {series_cache} && " + " ".join([exp, "plot", *names, "loss"]), shell=True)
plot = median_s([exp, "plot", *names, "loss"])
metrics = median_s(" ".join([exp, "metrics", *names, "--csv", ">", "/dev/null"]), shell=True)
one_plot = median_s([exp, "plot", names[0], "loss"])
one_metrics = median_s(" ".join([exp, "metrics", names[0], "--csv", ">", "/dev/null"]), shell=True)
print(f"{'exp plot ' + str(runs) + ' runs x ' + format(points, ',') + ' points':52s} {plot * 1000:9.1f} ms  "
      f"{plot / metrics:5.2f}x baseline  goal < 1000 ms: {'met' if plot < 1 else 'MISSED'}")
print(f"{'  first plot (empty series cache)':52s} {cold * 1000:9.1f} ms  {cold / metrics:5.2f}x baseline")
print(f"{'  baseline: exp metrics ' + str(runs) + ' runs --csv > /dev/null':52s} {metrics * 1000:9.1f} ms")
print(f"{'  floor: git cat-file of the ' + str(runs) + ' metrics.jsonl (serial)':52s} {floor * 1000:9.1f} ms")
print(f"{'exp plot 1 run':52s} {one_plot * 1000:9.1f} ms  {one_plot / one_metrics:5.2f}x baseline")
print(f"{'  baseline: exp metrics 1 run --csv > /dev/null':52s} {one_metrics * 1000:9.1f} ms")

# 2. --follow on a live run logging `rate` points a second.
PRINTER = r'''
import os, sys, time
rate, seconds, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
out = open(os.environ["EXP_METRICS_FILE"], "a") if mode == "file" else sys.stdout
batch = max(1, rate // 100)
start = time.time(); step = 0
while time.time() - start < seconds:
    lines = []
    for _ in range(batch):
        value = 2.0 / (1 + step / 1000) + (step % 97) / 1000
        lines.append(f'{{"step": {step}, "loss": {value:.6f}}}\n' if mode == "file" else f"step={step} loss={value:.6f}\n")
        step += 1
    out.write("".join(lines)); out.flush()
    target = start + step / rate
    time.sleep(max(0, target - time.time()))
'''

def follow_share(mode):
    name = f"live-{mode}"
    runner = subprocess.Popen([exp, "run", "--name", name, "--", sys.executable, "-c", PRINTER,
                               str(rate), str(seconds), mode], cwd=repo, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Wait until the run has logged points.
    live = os.path.join(repo, ".git", "exp", "runs")
    deadline = time.time() + 60
    def started():
        for entry in (os.listdir(live) if os.path.isdir(live) else []):
            for points in ("metrics.stdout.points", "metrics.jsonl"):
                path = os.path.join(live, entry, points)
                if os.path.exists(path) and os.path.getsize(path) > 0:
                    return True
        return False
    while time.time() < deadline and not started():
        time.sleep(0.01)
    logging_ends = time.perf_counter() + seconds - 0.5
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(repo)
        os.execve(exp, [exp, "plot", name, "loss", "--follow"], env)
    shown = []
    def drain():
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            shown.append(data)
            del shown[:-50]
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    def cpu_seconds():
        # utime and stime (fields 14 and 15 of /proc/PID/stat), in clock ticks.
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    # Measure while the run logs, after exp plot's first second (its start and first read).
    time.sleep(1.0)
    t0, c0 = time.perf_counter(), cpu_seconds()
    time.sleep(max(0.5, logging_ends - time.perf_counter()))
    t1, c1 = time.perf_counter(), cpu_seconds()
    _, status, usage = os.wait4(pid, 0)
    reader.join(5)
    if status != 0:
        sys.exit("bench: exp plot --follow failed:\n" + b"".join(shown).decode(errors="replace")[-2000:])
    runner.wait()
    return c1 - c0, t1 - t0, usage.ru_utime + usage.ru_stime

for mode, label in (("stdout", "printing step=N loss=… lines"), ("file", "appending JSON lines to EXP_METRICS_FILE")):
    cpu, wall, total = follow_share(mode)
    share = cpu / wall * 100
    print(f"exp plot --follow, a run {label} at {rate:,}/s for {seconds} s:\n"
          f"  {cpu:.2f} s CPU over {wall:.1f} s while it logs = {share:.1f}% of a core "
          f"(whole life, start-up and last frame included: {total:.2f} s CPU)  goal < 5%: {'met' if share < 5 else 'MISSED'}")
shutil.rmtree(work, ignore_errors=True)
PY
