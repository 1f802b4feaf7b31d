# one-commit.sh plus two finished runs with a param and a metric each:
# first (--lr 0.1; loss 0.5 then 0.25) and second (--lr 0.01; loss 0.4 then 0.125).
set -eu
. "$FIXTURES/one-commit.sh"
"$EXP" run --name first -- sh -c 'echo "step 1 loss: 0.5"; echo "step 2 loss: 0.25"' train --lr 0.1 >/dev/null 2>&1
"$EXP" run --name second -- sh -c 'echo "step 1 loss: 0.4"; echo "step 2 loss: 0.125"' train --lr 0.01 >/dev/null 2>&1
