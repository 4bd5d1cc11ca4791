"""Write the bytecode (.pyc) of every module the demo imports, and only those.

Why: ``pip install --no-compile`` skips byte-compiling the whole of torch, pandas, scipy and
matplotlib (about half of the set-up time of ``make demo``), and a machine that sets
``PYTHONDONTWRITEBYTECODE`` would then recompile each module on every start of every worker.
Importing selrob's modules once here with bytecode writing on caches exactly what the demo
and its worker processes load. Run by the Makefile as ``PYTHONDONTWRITEBYTECODE= python
tools/compile_imports.py``; a module that needs an extra that is not installed is skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import selrob

# modules pulled in lazily (inside functions) by the demo's sweep, results table and report
LAZY = ("matplotlib.pyplot", "matplotlib.backends.backend_agg", "pyarrow.parquet",
        "scipy.stats")  # fmt: skip


def main() -> int:
    if sys.dont_write_bytecode:
        print("compile_imports: bytecode writing is off; run with PYTHONDONTWRITEBYTECODE=")
        return 2
    modules = pkgutil.walk_packages(selrob.__path__, "selrob.")
    names = [m.name for m in modules if not m.name.endswith("__main__")] + list(LAZY)  # not the CLI
    skipped = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional extra (Ray, foolbox) that this venv lacks
            skipped.append(name)
    print(f"compiled the imports of {len(names) - len(skipped)} modules"
          + (f" (skipped {', '.join(skipped)})" if skipped else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
