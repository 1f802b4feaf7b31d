#!/bin/bash
# Output-capture quality on the training-log corpus (Tests/ExpCoreTests/Fixtures/logs): each
# NAME.txt goes through `exp run -- cat` in a temp repo; the run's metric keys are compared with
# NAME.expected. First version, KEY level only: recall = expected points whose key was recorded,
# spurious = recorded keys that are not expected; must-not = forbidden keys recorded.
# Values and steps are not compared yet (issue 15 item 1 asks for that).
# Usage: bench/capture.sh   (EXP=path/to/exp; default .build/release/exp)
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
for log in "$corpus"/*.txt; do
    name=$(basename "$log" .txt)
    cp "$log" in.txt
    "$EXP" run -- cat in.txt >/dev/null 2>&1
    "$EXP" show latest --json >show.json 2>/dev/null
    python3 - "$corpus/$name.expected" show.json "$name" <<'PY'
import json, sys
lines = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
want = [l for l in lines if not l[0].startswith("!")]
banned = [l[0][1:] for l in lines if l[0].startswith("!")]
try:
    keys = set(json.load(open(sys.argv[2])).get("metrics", {}))
except Exception as error:
    print(f"{sys.argv[3]:26s} no run record ({error})")
    sys.exit()
wanted = {l[0] for l in want}
found = sum(1 for l in want if l[0] in keys)
spurious = sorted(keys - wanted)
print(f"{sys.argv[3]:26s} recall {found:3d}/{len(want):<3d} spurious keys {spurious}  must-not {[b for b in banned if b in keys]}")
PY
done
