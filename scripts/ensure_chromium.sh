#!/usr/bin/env bash
# The UI test needs a headless Chromium (Debian's `chromium` package). Installs it with apt-get when
# missing and allowed (root, or passwordless sudo); otherwise says how and fails.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do command -v "$b" >/dev/null && exit 0; done
if command -v apt-get >/dev/null; then
  if [[ "$(id -u)" == "0" ]]; then SUDO=(); elif sudo -n true 2>/dev/null; then SUDO=(sudo -n); else SUDO=(none); fi
  if [[ "${SUDO[0]:-}" != "none" ]]; then
    echo "installing Debian's chromium package (headless browser for the UI test)"
    "${SUDO[@]}" apt-get install -y -q chromium >/dev/null || { "${SUDO[@]}" apt-get update -q >/dev/null && "${SUDO[@]}" apt-get install -y -q chromium >/dev/null; }
    exit 0
  fi
fi
echo "headless Chromium not found: install it (Debian/Ubuntu: apt-get install chromium) and re-run" >&2
exit 1
