# One commit (train.py, old.txt), then uncommitted changes of every kind: train.py edited,
# old.txt deleted, new.txt untracked.
set -eu
git init -q -b main
echo "print('v1')" > train.py
echo "old" > old.txt
git add -A
git commit -q -m "init"
echo "print('v2')" > train.py
rm old.txt
echo "new" > new.txt
