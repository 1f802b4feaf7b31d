#!/usr/bin/env bash
# How fast exp reads a PyTorch Lightning metrics.csv: a 200 MB file in Lightning's layout
# (sorted columns, `epoch` and `step`, sparse rows: training rows every step, validation
# rows every 1,000 steps, CRLF line ends as Python's csv module writes them) read by exp's
# CSV reader (`exp-bench import-csv FILE`, the reader `exp run` uses, run as its own
# process) against Python's csv module reading the same file (csv.reader over every row:
# the least Python can do), and csv.DictReader with float() on every cell as a second
# reference. Median of RUNS; goal: exp < 2x csv.reader.
# Usage: bench/metrics-import.sh [RUNS] [MB]   (EXP=path/to/exp; default .build/release/exp;
# exp-bench is looked for beside it)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 - "$here" "${1:-5}" "${2:-200}" <<'PY'
import csv, os, random, shutil, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import lib
runs, megabytes = int(sys.argv[2]), int(sys.argv[3])
exp = lib.exp_binary()
bench = lib.bench_binary(exp)
work = tempfile.mkdtemp(prefix="exp-bench-csv-")
path = os.path.join(work, "metrics.csv")

columns = sorted(["epoch", "step", "train_loss_step", "train_acc_step", "lr-AdamW", "grad_norm",
                  "val_loss", "val_acc", "train_loss_epoch", "train_acc_epoch"])
rng = random.Random(0)
with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=columns)
    writer.writeheader()
    step = 0
    while f.tell() < megabytes * 1_000_000:
        rows = []
        for _ in range(1000):
            rows.append({"epoch": step // 5000, "step": step, "train_loss_step": rng.random(),
                         "train_acc_step": rng.random(), "lr-AdamW": 1e-4 * rng.random(), "grad_norm": rng.random() * 10})
            if step % 1000 == 999:
                rows.append({"epoch": step // 5000, "step": step, "val_loss": rng.random(), "val_acc": rng.random()})
                rows.append({"epoch": step // 5000, "step": step, "train_loss_epoch": rng.random(),
                             "train_acc_epoch": rng.random()})
            step += 1
        writer.writerows(rows)
size = os.path.getsize(path)
print(f"exp: {exp}\nfile: {size / 1e6:.0f} MB, {step:,} steps, {len(columns)} columns\n")

def timed(argv):
    start = time.perf_counter()
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True).stdout
    return time.perf_counter() - start, out.strip()

reader = ("import csv, sys\n"
          "n = 0\n"
          "with open(sys.argv[1], newline='') as f:\n"
          "    for row in csv.reader(f): n += len(row)\n"
          "print(n, 'cells')\n")
dict_reader = ("import csv, sys\n"
               "n = 0\n"
               "with open(sys.argv[1], newline='') as f:\n"
               "    for row in csv.DictReader(f):\n"
               "        for k, v in row.items():\n"
               "            if v and k != 'step': float(v); n += 1\n"
               "print(n, 'values')\n")
timed([bench, "import-csv", path])  # warm the page cache
e, r, d = [], [], []
for _ in range(runs):
    t, exp_out = timed([bench, "import-csv", path]); e.append(t)
    t, reader_out = timed([sys.executable, "-c", reader, path]); r.append(t)
    t, dict_out = timed([sys.executable, "-c", dict_reader, path]); d.append(t)
exp_s, reader_s, dict_s = statistics.median(e), statistics.median(r), statistics.median(d)
print(f"exp-bench import-csv            {exp_s:6.2f} s  {size / exp_s / 1e6:6.0f} MB/s  ({exp_out})")
print(f"python csv.reader               {reader_s:6.2f} s  {size / reader_s / 1e6:6.0f} MB/s  ({reader_out})")
print(f"python csv.DictReader + float   {dict_s:6.2f} s  {size / dict_s / 1e6:6.0f} MB/s  ({dict_out})")
print(f"exp / csv.reader = {exp_s / reader_s:.2f}x (goal < 2x); exp / DictReader = {exp_s / dict_s:.2f}x")
shutil.rmtree(work)
PY
