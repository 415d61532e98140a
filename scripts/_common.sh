# Shared by the launchers: `run CMD...` prints the command, then runs it unless DRY_RUN=1.
# Every launcher takes the pipeline config as its first argument and `--dry-run` anywhere on its command line.
set -euo pipefail
DRY_RUN=${DRY_RUN:-0}
ARGS=()
for a in "$@"; do
  if [[ "$a" == "--dry-run" ]]; then DRY_RUN=1; else ARGS+=("$a"); fi
done
set -- "${ARGS[@]+"${ARGS[@]}"}"
CONFIG=${1:?usage: $0 configs/pipeline/<name>.yaml [--dry-run] [key=value ...]}
shift
OVERRIDES=("$@")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GEORFT=${GEORFT:-georft}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

run() {
  printf '%q ' "$@"; printf '\n'
  if [[ "$DRY_RUN" != 1 ]]; then "$@"; fi
}

# `run_bg CMD...`: like `run`, but starts CMD in the background (the command is printed first, in order).
run_bg() {
  printf '%q ' "$@"; printf '\n'
  if [[ "$DRY_RUN" != 1 ]]; then "$@" & fi
}
