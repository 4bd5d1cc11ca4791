"""The closed vocabularies of selrob as ``StrEnum``s: run status, norm, schedule, train mode.

Strings from files and flags become members once, at the boundary (``Norm(value)`` in the
spec's coercion); a ``StrEnum`` member compares and serialises as its string, so specs, hashes
and ``metrics.json`` are unchanged by the typing.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """What ``metrics.json`` says of a run, and what a sweep reports for it."""

    RUNNING = "running"  # training started, not finished (an interrupted run resumes)
    COMPLETE = "complete"  # trained (and, in a sweep, evaluated)
    FAILED = "failed"  # stopped for a reason recorded beside the status
    SKIPPED = "skipped"  # a sweep found the run already complete and did nothing
    DAMAGED = "damaged"  # a sweep found the run directory's files damaged (never in metrics.json)
    BUSY = "busy"  # another live process holds the run's lock (a sweep waits, then retries)


class Norm(StrEnum):
    """Threat model of an attack: the norm that bounds the perturbation."""

    LINF = "linf"
    L2 = "l2"


class Schedule(StrEnum):
    """Learning-rate schedule after the warm-up."""

    STEP = "step"  # multiply by 0.1 at each milestone epoch
    COSINE = "cosine"  # half a cosine from the peak to 0 over the remaining epochs


class TrainMode(StrEnum):
    """How each training minibatch is perturbed before the step (``selrob.robust``)."""

    STANDARD = "standard"  # the clean images
    ADVERSARIAL = "adversarial"  # PGD within at_eps (Madry et al. 2018)
    NOISE = "noise"  # additive Gaussian noise of standard deviation noise_sigma
    CORRUPTIONS = "corruptions"  # one random (corruption, severity) per image, from the suite


class Precision(StrEnum):
    """Numeric precision of forward passes (evaluation's; training's when asked)."""

    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"  # autocast; faster where the CPU has bf16 instructions (or on GPUs)


def choices(enum: type[StrEnum]) -> str:
    """'a, b or c' for error messages."""
    names = [m.value for m in enum]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
