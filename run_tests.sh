#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite.
#   - Debian's chromium (browser test), LibreOffice Calc (recalculates the Excel report and prints
#     it to PDF) and the Noto CJK fonts (Korean glyphs in screenshots and PDFs),
#     installed with apt-get when missing; Playwright drives Debian's chromium, so
#     `playwright install` is never called (it downloads browsers).
#   - the Python packages of requirements-dev.txt.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v soffice >/dev/null 2>&1 || need_apt+=(libreoffice-calc)
# Korean glyphs in the browser screenshots and in the report printed to PDF by LibreOffice
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need_apt[*]} with apt-get" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "warning: ${need_apt[*]} missing and apt-get unavailable: the browser/recalculation tests will be skipped" >&2
  fi
fi

python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
export OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=1
# lint and types first (pyproject.toml): a finding stops the run, as in CI
python -m ruff check .
python -m mypy
python -m pytest -q "$@"
