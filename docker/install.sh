#!/usr/bin/env bash
# The build steps of the RunPod worker image (docker/Dockerfile RUNs this script; CI runs it directly from
# test/runtime/runpod-handler.test.ts, so the steps are tested without a Docker engine).
#
# Environment:
#   MGEN_STEPS          which steps, in order (default: "cli runtime extra pull")
#   MGEN_PROFILE        runtime profile: cpu | cuda | auto (default: auto)
#   MODEL_ID            with MGEN_PREPULL=1: weights pulled into the image at build time
#   MGEN_EXTRA_TARGET   install the runpod extra into this folder (pip --target) instead of the runtime venv
#   MGEN_PYTHON         use this interpreter instead of provisioning one (as everywhere in mgen)
#   MGEN_LINK=1         put `mgen` on PATH (/usr/local/bin/mgen)
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEPS="${MGEN_STEPS:-cli runtime extra pull}"
PROFILE="${MGEN_PROFILE:-auto}"
MGEN=(node "$SRC/bin/mgen")

say() { printf 'install.sh: %s\n' "$*" >&2; }

step_cli() {
  say "building the mgen CLI"
  (cd "$SRC" && npm ci --no-audit --no-fund && npm run build)
  if [[ "${MGEN_LINK:-0}" == 1 ]]; then ln -sf "$SRC/bin/mgen" /usr/local/bin/mgen; fi
}

step_runtime() {
  if [[ -n "${MGEN_PYTHON:-}" ]]; then say "MGEN_PYTHON is set: no runtime to provision"; return; fi
  say "provisioning the Python runtime (profile $PROFILE)"
  "${MGEN[@]}" runtime install --profile "$PROFILE"
}

step_extra() {
  local req="$SRC/python-runtime/requirements/runpod.txt"
  if [[ -n "${MGEN_EXTRA_TARGET:-}" ]]; then
    local py="${MGEN_PYTHON:-$("${MGEN[@]}" runtime which)}"
    say "installing the runpod extra into $MGEN_EXTRA_TARGET"
    "$py" -m pip install --disable-pip-version-check --no-input --quiet -r "$req" --target "$MGEN_EXTRA_TARGET"
  elif [[ -n "${MGEN_PYTHON:-}" ]]; then
    say "installing the runpod extra into $MGEN_PYTHON's environment"
    "$MGEN_PYTHON" -m pip install --disable-pip-version-check --no-input --quiet -r "$req"
  else
    say "installing the runpod extra into the runtime"
    "${MGEN[@]}" runtime install --profile "$PROFILE" --extra runpod
  fi
}

step_pull() {
  local id="${MODEL_ID:-}"
  if [[ "${MGEN_PREPULL:-0}" != 1 || -z "$id" ]]; then return; fi
  case "$id" in
    builtin:*) say "building $id"; "${MGEN[@]}" serve "$id" --print-plan >/dev/null ;;
    *) if [[ -e "$id" ]]; then return; fi; say "pulling $id"; "${MGEN[@]}" pull "$id" ;;
  esac
}

for s in $STEPS; do
  case "$s" in
    cli | runtime | extra | pull) "step_$s" ;;
    *) say "unknown step $s (known: cli runtime extra pull)"; exit 2 ;;
  esac
done
say "done: $STEPS"
