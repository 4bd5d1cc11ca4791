"""The class-selectivity regulariser for anyone's training loop.

``SelectivityRegularizer`` hooks the unit modules of any ``nn.Module`` and, after each forward
pass, returns the minibatch ``mu_SI`` that ``selrob train`` uses (``docs/method.md``, "The
regulariser"), so a user's own loop becomes::

    reg = SelectivityRegularizer(model, units="layer*")   # or "default" for selrob models
    for x, y in loader:
        logits = model(x)
        loss = F.cross_entropy(logits, y) - alpha * reg(y)
        ...
    reg.remove()                                           # or use it as a context manager

The term is the same computation ``selrob train`` runs (``selectivity.layer_selectivity`` over
the recorded spatial means); each forward pass replaces the recorded activations, so call
``reg(y)`` after the forward pass whose labels ``y`` are.
"""

from __future__ import annotations

from types import TracebackType

import torch
from torch import nn

from selrob.errors import InvalidArgument
from selrob.selectivity import layer_selectivity, network_selectivity
from selrob.units import UnitRecorder


class SelectivityRegularizer:
    """Minibatch class selectivity ``mu_SI`` of ``model``'s units, hooked on construction.

    ``units``: "default" (the model's ``unit_layers``) or comma-separated module-name globs.
    ``num_classes``: the number of classes; by default taken from the logits' width of the
    last forward pass when the model returns ``(N, C)``, else from the labels. Classes absent
    from a minibatch are left out, so the value does not depend on a larger ``num_classes``.
    """

    def __init__(
        self, model: nn.Module, units: str = "default", num_classes: int | None = None
    ) -> None:
        self.recorder = UnitRecorder(model, units)
        self.num_classes = num_classes
        self._logits: torch.Tensor | None = None
        self._out_hook = model.register_forward_hook(self._keep_output)
        self.recorder.__enter__()

    @property
    def layers(self) -> list[str]:
        """Names of the hooked modules."""
        return list(self.recorder.names)

    def _keep_output(self, _m: nn.Module, _i: tuple, out: torch.Tensor) -> None:
        self._logits = out if isinstance(out, torch.Tensor) and out.dim() == 2 else None

    def per_layer(self, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """{layer: mean SI of its units} on the last forward pass (differentiable scalars)."""
        if not self.recorder.acts:
            raise InvalidArgument(
                "no activations recorded: call the regulariser after a forward pass of the model"
            )
        n = next(iter(self.recorder.acts.values())).shape[0]
        if labels.shape != (n,):
            raise InvalidArgument(
                f"labels have shape {tuple(labels.shape)} but the last forward pass had {n} "
                "images; pass that batch's labels"
            )
        classes = self.num_classes
        if classes is None:
            classes = self._logits.shape[1] if self._logits is not None else int(labels.max()) + 1
        return layer_selectivity(self.recorder.acts, labels, classes)

    def __call__(self, labels: torch.Tensor) -> torch.Tensor:
        """``mu_SI`` on the last forward pass: the mean over layers of each layer's mean SI."""
        return network_selectivity(self.per_layer(labels))

    def remove(self) -> None:
        """Remove the hooks (the model is left as it was)."""
        self.recorder.__exit__(None, None, None)
        self._out_hook.remove()

    def __enter__(self) -> SelectivityRegularizer:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()
