#!/usr/bin/env bash
# The GPU check of the CoSS toolkit, from its bundle (`deno task gpu-bundle`), on any Linux x86-64
# machine with a GPU and no network:
#
#   bash run.sh            the full check (at most RUN_BUDGET=540 seconds)
#   bash run.sh --quick    tiny sizes, any adapter (llvmpipe too): a smoke test of the bundle
#
# Results go to $OUT (default: ./out next to this script): run.log, nvidia-smi.txt, probe.json,
# parity.json, a log per stage, bench-*/results.{json,md}, summary.md. Each stage has its own time
# limit, and all of them together at most $RUN_BUDGET seconds (default 540), so that one slow or
# failing stage leaves the others' results; with PACK_TO=file.tar.gz, everything is also packed
# into that one file after every stage. The exit code is the number of stages that failed.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
OUT="${OUT:-$HERE/out}"
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/coss-gpu.XXXXXX")"
APP="$HERE/app/lib/bundle/coss.js"
DATA="$HERE/data/fashion-mnist"
FAILED=0
START=$SECONDS
RUN_BUDGET="${RUN_BUDGET:-540}"

log() { echo "[run.sh +$((SECONDS - START))s] $*" | tee -a "$OUT/run.log" >&2; }
fail() { FAILED=$((FAILED + 1)); log "FAILED: $*"; }

# 1. Deno, carried compressed.
DENO="$WORK/deno"
if command -v xz >/dev/null; then
  xz -dc "$HERE/bin/deno.xz" >"$DENO"
else
  python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$HERE/bin/deno.xz" "$DENO"
fi
chmod +x "$DENO"
log "$("$DENO" --version | head -n 1), bundle $(cat "$HERE/manifest.json" | tr -d '\n' | sed -E 's/.*"commit": *"([^"]*)".*/\1/')"

# 2. The Vulkan loader: the machine's, else the one the bundle carries (Debian's libvulkan1).
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 '; then
  shopt -s nullglob
  debs=("$HERE"/gl/*.deb)
  if ((${#debs[@]})) && [[ "$(id -u)" == 0 ]]; then
    for f in "${debs[@]}"; do dpkg -x "$f" /; done
    ldconfig
    log "Vulkan loader unpacked from the bundle: ${debs[*]##*/}"
  else
    log "no Vulkan loader on this machine and none unpacked (needs root and gl/*.deb)"
  fi
fi
icd=""
for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
  ls "$d"/*.json >/dev/null 2>&1 && icd="$icd $(ls "$d"/*.json | tr '\n' ' ')"
done
if [[ "$icd" != *nvidia* && -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  icd="$icd VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi
log "Vulkan drivers:${icd:- none found}"
log "libraries: $(ldconfig -p 2>/dev/null | grep -oE '(libvulkan|libGLX_nvidia|libnvidia-glcore|libGLdispatch)[^ ]*' | sort -u | tr '\n' ' ')"
export XDG_RUNTIME_DIR="$WORK" NO_COLOR=1 HOME="$WORK"
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 && log "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"

# The first python3 that imports torch (Debian's is /usr/bin/python3; pyenv shims may lack it).
PY=""
for c in python3 /usr/bin/python3; do
  p="$(command -v "$c" || true)"
  if [[ -n "$p" ]] && "$p" -c 'import torch' 2>/dev/null; then PY="$p" && break; fi
done
TORCH_DEVICE=cpu
if [[ -n "$PY" ]] && "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  TORCH_DEVICE=cuda
fi
log "PyTorch: ${PY:-none} ($TORCH_DEVICE)"

PERMS=(--allow-read="$HERE,$OUT,$WORK" --allow-write="$OUT,$WORK" --allow-env --allow-sys=loadavg)
if [[ -n "$PY" && -n "${LD_LIBRARY_PATH:-}${LD_PRELOAD:-}" ]]; then
  # Deno lets a program spawn a process that inherits LD_LIBRARY_PATH only under an unscoped
  # --allow-run, and torch may need that path to find CUDA.
  PERMS+=(--allow-run)
  log "LD_LIBRARY_PATH is set: Deno spawns PyTorch with it only under an unscoped --allow-run, granted"
elif [[ -n "$PY" ]]; then
  PERMS+=(--allow-run="$PY")
fi
COSS=("$DENO" run "${PERMS[@]}" "$APP")
pack() {
  [[ -n "${PACK_TO:-}" ]] || return 0
  tar -czf "$PACK_TO.tmp" -C "$OUT" --exclude "$(basename "$PACK_TO")*" . && mv "$PACK_TO.tmp" "$PACK_TO"
}
# stage NAME SECONDS COMMAND...: run with a time limit (cut to what is left of RUN_BUDGET),
# output to $OUT/NAME.log; with STAGES="a b ...", only the stages named there run.
stage() {
  local name=$1 limit=$2
  shift 2
  if [[ -n "${STAGES:-}" && " $STAGES " != *" $name "* ]]; then
    log "stage $name left out (STAGES=$STAGES)"
    return 0
  fi
  local left=$((RUN_BUDGET - (SECONDS - START)))
  ((left < limit)) && limit=$left
  if ((limit < 15)); then
    fail "stage $name skipped: ${left}s left of RUN_BUDGET=${RUN_BUDGET}s"
    return 0
  fi
  log "stage $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  if ((rc == 0)); then log "stage $name passed"; else fail "stage $name exited $rc (log: $OUT/$name.log)"; fi
  tail -n 40 "$OUT/$name.log" | sed "s/^/  $name| /" >&2
  pack
  return 0
}

stage probe 60 "${COSS[@]}" probe --json "$OUT/probe.json"
stage parity 120 "${COSS[@]}" parity --json "$OUT/parity.json"

TORCH=(--python "${PY:-python3}" --torch-device "$TORCH_DEVICE")
[[ -z "$PY" ]] && TORCH=(--no-torch)
FM="teacher-cache.dataDir=$DATA"
if ((QUICK)); then
  stage bench-quick 300 "${COSS[@]}" bench --quick --backends webgpu --cases step-cnn28,step-r18,teacher-embed,teacher-cache \
    "${TORCH[@]}" --set "$FM" --iters 2 --warmup 1 --out "$OUT/bench-quick"
  stage distill 300 "${COSS[@]}" distill --backend webgpu --run-dir "$WORK/run" --set "teacher.cacheDir=$WORK/cache" \
    --set "data.train.dataDir=$DATA" --set "data.test.dataDir=$DATA" --set data.subset=256 --set train.steps=4 \
    --set data.sampler.kind=random --set data.sampler.batchSize=32 --set student.args.width=0.125 \
    --set eval.subset=128 --set eval.testSubset=128 --set eval.linear.epochs=2 --set eval.mapPoints=64 \
    --set train.evalEvery=0
else
  # The two goal cases (ResNet-18 step and ResNet-50 teacher at batch 256) with profiles, and
  # PyTorch under torch.compile too on CUDA; the small cases; then the default distill end to end.
  COMPILE=()
  [[ "$TORCH_DEVICE" == cuda ]] && COMPILE=(--torch-compile --torch-timeout 150)
  stage bench-256 240 "${COSS[@]}" bench --backends webgpu --cases step-r18,teacher-embed --profile \
    "${COMPILE[@]}" "${TORCH[@]}" --set step-r18.batch=256 --set teacher-embed.batch=256 --out "$OUT/bench-256"
  stage bench-small 90 "${COSS[@]}" bench --backends webgpu --cases step-cnn28,step-r18,teacher-cache "${TORCH[@]}" \
    --set "$FM" --out "$OUT/bench-small"
  stage distill 240 "${COSS[@]}" distill --backend webgpu --run-dir "$WORK/run" --set "teacher.cacheDir=$WORK/cache" \
    --set "data.train.dataDir=$DATA" --set "data.test.dataDir=$DATA"
  # The filter gradient's launch plan at ResNet-18 batch 64: llvmpipe's (256 workgroups) and a
  # GPU-sized one, each against tfjs's kernel (85% of the batch-256 step on an H200 was this kernel).
  for plan in "256 1024" "4096 256"; do
    set -- $plan
    stage "grads-$1" 60 "${COSS[@]}" bench --backends webgpu --cases webgpu-grads --no-torch \
      --set webgpu-grads.r18Batch=64 --set webgpu-grads.targetWorkgroups="$1" \
      --set webgpu-grads.minChunk="$2" --iters 3 --out "$OUT/grads-$1"
  done
fi

# One summary of what came back.
{
  echo "# GPU check ($(date -u +%FT%TZ), $((SECONDS - START)) s, $FAILED failed stages)"
  echo
  [[ -s "$OUT/nvidia-smi.txt" ]] && echo "- GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
  echo "- auto backend: $(grep -o '"line": *"[^"]*"' "$OUT/probe.json" 2>/dev/null | head -n 1)"
  echo
  for f in "$OUT"/parity.log "$OUT"/bench-*/results.md; do [[ -f "$f" ]] && { cat "$f"; echo; }; done
  echo '```'
  tail -n 30 "$OUT/distill.log" 2>/dev/null
  echo '```'
} >"$OUT/summary.md"
log "done: $FAILED failed stages; results in $OUT"
pack
rm -rf "$WORK"
exit "$FAILED"
