#!/usr/bin/env bash
# What the tree promises without a build: every C++ source is clang-formatted (.clang-format),
# every shell script passes shellcheck at warning level, and no file cites a path outside the
# repository. Installs clang-format and shellcheck when missing (Debian). Exits 1 naming what failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v clang-format >/dev/null || missing+=(clang-format)
command -v shellcheck >/dev/null || missing+=(shellcheck)
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The tracked files (a checkout without git: every file but the build folders).
files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files "$@"
  else
    local names=()
    for pattern in "$@"; do names+=(-o -name "$pattern"); done
    find . \( -path './build*' -o -path './.*' \) -prune -o -type f \( "${names[@]:1}" \) -print |
      sed 's|^\./||'
  fi
}

status=0
mapfile -t sources < <(files '*.h' '*.cpp')
if ! clang-format --dry-run --Werror "${sources[@]}"; then
  echo "lint: the files above are not clang-formatted: clang-format -i FILE" >&2
  status=1
fi
mapfile -t scripts < <(files '*.sh' '*.sbatch'; echo .ci/run)
if ! shellcheck -S warning "${scripts[@]}"; then
  echo "lint: shellcheck warnings above" >&2
  status=1
fi
# A citation must point at something a reader of the repository can open.
outside='[.][.]/shared/|shared/[r]eference/'  # bracketed: this line does not match itself
if files '*' | xargs grep -n -E "$outside" -- 2>/dev/null; then
  echo "lint: the lines above cite paths outside the repository: cite the paper or the official code" >&2
  status=1
fi
[[ $status -eq 0 ]] && echo "lint: ${#sources[@]} C++ files formatted, ${#scripts[@]} scripts clean, no outside citations"
exit $status
