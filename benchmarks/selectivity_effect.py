"""Does the regulariser move selectivity? Fashion-MNIST, resnet20, 2 epochs on 10k examples.

Trains alpha = -5, 0, +5 (same seed, same data order) and prints test accuracy and the
dataset-level mean class selectivity of each; alpha = -5 should be lower than alpha = 0, and
alpha = +5 higher. Baseline in the same run: alpha = 0 (plain cross-entropy).

    python benchmarks/selectivity_effect.py [--epochs 2] [--limit-train 10000] [--width 1.0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from selrob.config import Runtime, TrainSpec
from selrob.experiment import ensure_trained


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit-train", type=int, default=10_000)
    p.add_argument("--limit-test", type=int, default=2_000)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--alphas", default="-5,0,5")
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for alpha in (float(s) for s in a.alphas.split(",")):
            spec = TrainSpec(
                alpha=alpha,
                epochs=a.epochs,
                limit_train=a.limit_train,
                limit_test=a.limit_test,
                width=a.width,
            )
            t0 = time.perf_counter()
            res = ensure_trained(spec, Path(tmp), Runtime(device=a.device, quiet=True))
            rows.append(
                (
                    alpha,
                    res.metrics["test_accuracy"],
                    res.metrics["mean_selectivity"],
                    time.perf_counter() - t0,
                )
            )
    print(
        f"fashion-mnist resnet20 (width {a.width}), {a.epochs} epochs on {a.limit_train} examples; test n={a.limit_test}"
    )
    print(f"{'alpha':>7} {'test acc':>9} {'mean SI':>8} {'seconds':>8}")
    for alpha, acc, si, sec in rows:
        print(f"{alpha:7g} {acc:9.4f} {si:8.4f} {sec:8.1f}")
    by = {r[0]: r[2] for r in rows}
    if {-5.0, 0.0, 5.0} <= set(by):
        ok = by[-5.0] < by[0.0] < by[5.0]
        print(f"ordering SI(-5) < SI(0) < SI(+5): {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
