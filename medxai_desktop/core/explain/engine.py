"""The shared pass: every requested explainer for one (image, class) from one pass.

One forward through the prefix (no autograd graph, unless Guided Backprop needs the input
gradient), the suffix on a leaf copy of the target activations, and one backward that stops
at the target layer. Parameters stay frozen; the model object is never modified.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from medxai_desktop.core.models import LoadedModel, Prediction

from .base import CancelFn, Explainer, PassContext, ProgressFn
from .graph_split import SplitModel
from .provenance import cache_key, library_versions, now_iso, tensor_sha256
from .registry import canonical_name, get_explainer


@dataclass
class Explanation:
    method: str
    label: str
    map: np.ndarray              # HxW float32 in [0, 1] at model input resolution
    raw: np.ndarray              # before ReLU/normalisation (feature resolution; 3xHxW for guided)
    target_index: int
    target_name: str
    seconds: float               # this method's own work, after the shared pass
    provenance: dict = field(default_factory=dict)

    @property
    def cache_key(self) -> str:
        return cache_key(self.provenance)


@dataclass
class ExplanationSet:
    prediction: Prediction
    target_index: int
    target_name: str
    input_tensor: torch.Tensor   # 1x3xHxW float32 on the CPU: exactly what the model saw
    explanations: dict[str, Explanation]
    shared_pass_seconds: float
    input_gradient: torch.Tensor | None = None  # guided input gradient (1x3xHxW) if computed

    def __getitem__(self, method: str) -> Explanation:
        return self.explanations[canonical_name(method)]


class ExplanationEngine:
    """Explains one model. Calls are serialised: one engine never runs two passes at once."""

    def __init__(self, model: LoadedModel, target_layer: str | None = None):
        self.model = model
        self.target_layer = target_layer or model.target_layer
        self._split: SplitModel | None = None
        self._lock = threading.Lock()

    @property
    def split(self) -> SplitModel:
        if self._split is None:
            self._split = SplitModel(self.model.module, self.target_layer)
        return self._split

    def resolve_target(self, target: str | int | None, logits: torch.Tensor) -> int:
        if target is None or (isinstance(target, str) and target.lower() == "predicted"):
            return int(torch.argmax(logits[0]).item())
        return self.model.class_index(target)

    def explain(self, tensor: torch.Tensor, methods: Sequence[str | Explainer],
                target: str | int | None = "predicted", progress: ProgressFn | None = None,
                cancelled: CancelFn | None = None) -> ExplanationSet:
        explainers = [m if isinstance(m, Explainer) else get_explainer(m) for m in methods]
        if not explainers:
            raise ValueError("no explanation method requested")
        with self._lock:
            return self._explain(tensor, explainers, target, progress, cancelled)

    def _explain(self, tensor, explainers, target, progress, cancelled) -> ExplanationSet:
        split, device = self.split, self.model.device
        x = tensor.to(device, torch.float32)
        need_grad = any(e.needs_gradients for e in explainers)
        need_input_grad = any(e.needs_input_gradient for e in explainers)
        start = time.perf_counter()
        if need_input_grad:
            x_leaf = x.clone().requires_grad_(True)
            with torch.enable_grad():
                guided_a, guided_extras = split.run_prefix(x_leaf, guided=True)
            activations, extras = guided_a.detach(), [e.detach() for e in guided_extras]
        else:
            with torch.no_grad():
                activations, extras = split.run_prefix(x)
        gradients = input_gradient = None
        if need_grad:
            a_leaf = activations.detach().requires_grad_(True)
            with torch.enable_grad():
                logits = split.run_suffix(a_leaf, extras)
                index = self.resolve_target(target, logits)
                (gradients,) = torch.autograd.grad(logits[0, index], a_leaf)
            logits = logits.detach()
        else:
            with torch.no_grad():
                logits = split.run_suffix(activations, extras)
            index = self.resolve_target(target, logits)
        if need_input_grad:
            with torch.enable_grad():
                guided_logits = split.run_suffix(guided_a, guided_extras, guided=True)
                (input_gradient,) = torch.autograd.grad(guided_logits[0, index], x_leaf)
        shared_seconds = time.perf_counter() - start

        ctx = PassContext(split, x, activations, extras, logits, index, gradients, input_gradient,
                          progress, cancelled, model=self.model)
        probabilities = torch.softmax(logits[0].float(), dim=0).cpu().numpy()
        classes = self.model.classes
        predicted = int(np.argmax(probabilities))
        prediction = Prediction(predicted, classes[predicted],
                                {c: float(p) for c, p in zip(classes, probabilities)},
                                [float(v) for v in logits[0].cpu()])
        base = {
            "model": self.model.provenance(),
            "target_layer": self.target_layer,
            "target_class": index,
            "target_name": classes[index],
            "input_sha256": tensor_sha256(tensor),
            "input_shape": list(tensor.shape),
            "versions": library_versions(),
            "shared_pass_seconds": shared_seconds,
        }
        size = tuple(x.shape[-2:])
        results: dict[str, Explanation] = {}
        for explainer in explainers:
            ctx.check_cancelled()
            t0 = time.perf_counter()
            raw = explainer.compute(ctx)
            heatmap = explainer.to_map(raw, size)
            seconds = time.perf_counter() - t0
            params = {k: getattr(explainer, k, v) for k, v in explainer.parameters.items()}
            provenance = dict(base, method=explainer.name, parameters=params, seconds=seconds,
                              created=now_iso())
            results[explainer.name] = Explanation(
                explainer.name, explainer.label, heatmap, raw.detach().cpu().numpy(), index,
                classes[index], seconds, provenance)
        return ExplanationSet(prediction, index, classes[index], tensor.detach().cpu(), results,
                              shared_seconds,
                              None if input_gradient is None else input_gradient.detach().cpu())
