#!/usr/bin/env bash
# Install the torch build that fits this machine into the given Python, before `pip install -e .[train]`
# (whose `torch>=2.4` is then already satisfied, so pip never swaps it).
#   - torch already installed at the wanted version: nothing to do.
#   - an NVIDIA GPU (nvidia-smi answers): the default build from PyPI, which is the CUDA one.
#   - otherwise: the CPU build from PyTorch's CPU wheel index (a few hundred MB instead of several GB of
#     nvidia-* packages). pip's own configuration still applies, so a local wheel (find-links, a mirror)
#     is used when it matches; an unreachable index costs one short timeout, then PyPI is the fallback.
# Usage: scripts/install_torch.sh PYTHON [SPEC]     (SPEC default torch==2.13.0; TORCH_INDEX overrides the index)
set -euo pipefail
py=${1:?usage: install_torch.sh PYTHON [SPEC]}
spec=${2:-torch==2.13.0}
cpu_index=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
wanted=${spec#torch==}

have=$("$py" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)
if [ -n "$have" ] && { [ "$wanted" = "$spec" ] || [ "${have%%+*}" = "$wanted" ]; }; then
  echo "setup: torch $have already installed"
  exit 0
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: NVIDIA GPU found; installing $spec (default CUDA build from PyPI)"
  exec "$py" -m pip install --progress-bar off "$spec"
fi

# One short probe instead of pip's per-package retries against an index that cannot be reached.
if "$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=5)' "$cpu_index" 2>/dev/null; then
  echo "setup: no NVIDIA GPU; installing $spec, CPU build from $cpu_index"
  if "$py" -m pip install --progress-bar off --timeout 30 --index-url "$cpu_index" "$spec"; then
    exit 0
  fi
  echo "setup: the CPU index did not serve $spec; falling back to the default index"
else
  echo "setup: no NVIDIA GPU and $cpu_index unreachable; installing $spec from the configured index"
fi
exec "$py" -m pip install --progress-bar off "$spec"
