# Adds to the repository: an empty bare repository ../remote.git (beside the worktree) as
# origin. Run on top of another fixture (TestRepo.runFixture).
set -eu
git init -q --bare -b main ../remote.git
git remote add origin ../remote.git
