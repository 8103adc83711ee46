"""CrossEAI's parameters and the maps it fuses: plain data, importable without torch (the
desktop app builds its panels before the model stack is loaded)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

CROSSEAI_METHODS = ("guided", "gradcam++")


@dataclass(frozen=True)
class CrossEAIParams:
    alpha: float = 0.5      # weight of the Guided Backprop map
    tau: float = 0.5        # threshold, as a fraction of the fused map's maximum
    sigma: float = 4.0      # Gaussian smoothing of the guided map, in model input pixels
    min_area: float = 0.005  # smallest component kept, as a fraction of the image area
    top_k: int = 3          # boxes kept per image (0 keeps all)
    score: str = "mean"     # "mean" or "max" of the fused map inside the component
    foreground: bool = False  # zero the fused map outside the patient (head, body) first

    def __post_init__(self):
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        if self.sigma < 0 or not 0 <= self.min_area < 1 or self.top_k < 0:
            raise ValueError("sigma >= 0, 0 <= min_area < 1 and top_k >= 0 are required")
        if self.score not in ("mean", "max"):
            raise ValueError(f"score must be 'mean' or 'max', got {self.score!r}")

    @classmethod
    def from_dict(cls, values: dict | None) -> "CrossEAIParams":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in known})

    def with_(self, **changes) -> "CrossEAIParams":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self, fused: bool = True) -> str:
        """The rule in one line (``fused``: with CrossEAI's alpha and sigma)."""
        fusion = f"alpha {self.alpha:g}, sigma {self.sigma:g} px, " if fused else ""
        return (f"{fusion}threshold {self.tau:g} x max, min area {self.min_area:.2%}, "
                f"{'all boxes' if self.top_k == 0 else f'top {self.top_k}'} by {self.score}"
                f"{', inside the patient' if self.foreground else ''}")
