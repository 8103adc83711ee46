"""Split a network at its CAM target layer with torch.fx, without touching the module.

``prefix(x) -> (A, *extras)`` computes the target layer's activations A (and any earlier
tensor the rest of the network still reads, such as a residual branch), ``suffix(A,
*extras) -> logits`` runs only the layers after it. Both share the original parameters. This
lets one explanation run the expensive prefix once without an autograd graph, take the
gradient of the class score with respect to A through the suffix only, and ablate channels
by re-running only the suffix. ``guided_prefix``/``guided_suffix`` are copies in which every
ReLU (module or functional) back-propagates only positive gradients (Guided Backprop);
the module in use is never modified, so no hook or swapped layer can leak out of an error.
"""
from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn.functional as F
from torchvision.models.feature_extraction import NodePathTracer

from .guided_relu import guided_relu

_RELU_FUNCTIONS = {torch.relu, torch.relu_, F.relu, F.relu_}
_RELU_METHODS = {"relu", "relu_"}


class GraphSplitError(ValueError):
    pass


def _trace(module: torch.nn.Module) -> tuple[fx.GraphModule, dict[fx.Node, str]]:
    tracer = NodePathTracer()
    try:
        graph = tracer.trace(module)
    except Exception as exc:  # noqa: BLE001 - any tracing failure is reported the same way
        raise GraphSplitError(f"{type(module).__name__} cannot be traced by torch.fx ({exc})") from exc
    return fx.GraphModule(tracer.root, graph), dict(tracer.node_to_qualname)


def _output_node_of(layer: str, graph: fx.Graph, qualnames: dict[fx.Node, str]) -> fx.Node:
    """The last node computed inside ``layer``: the layer's output."""
    found = None
    for node in graph.nodes:
        name = qualnames.get(node, "")
        if name == layer or name.startswith(layer + "."):
            found = node
    if found is None:
        raise GraphSplitError(f"target layer {layer!r} not found in the traced network")
    return found


def _descendants(node: fx.Node) -> set[fx.Node]:
    seen, stack = set(), [node]
    while stack:
        for user in stack.pop().users:
            if user not in seen:
                seen.add(user)
                stack.append(user)
    return seen


def _guided_copy(gm: fx.GraphModule) -> fx.GraphModule:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in gm.graph.nodes:
        is_relu_module = node.op == "call_module" and isinstance(
            gm.get_submodule(node.target), torch.nn.ReLU)
        is_relu_call = (node.op == "call_function" and node.target in _RELU_FUNCTIONS) or (
            node.op == "call_method" and node.target in _RELU_METHODS)
        if is_relu_module or is_relu_call:
            env[node] = graph.call_function(guided_relu, (env[node.args[0]],))
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
    guided = fx.GraphModule(gm, graph)
    guided.graph.eliminate_dead_code()
    guided.recompile()
    return guided


class SplitModel:
    """The network as prefix (input -> target activations) and suffix (activations -> logits)."""

    def __init__(self, module: torch.nn.Module, target_layer: str):
        self.module = module
        self.target_layer = target_layer
        traced, qualnames = _trace(module)
        graph = traced.graph
        target = _output_node_of(target_layer, graph, qualnames)
        after = _descendants(target)
        output = next(n for n in graph.nodes if n.op == "output")
        if output not in after:
            raise GraphSplitError(f"the network's output does not depend on {target_layer!r}")

        # Suffix: the target's output (and earlier tensors still read later) become inputs.
        extras: list[fx.Node] = []
        for node in graph.nodes:
            if node in after:
                for arg in node.all_input_nodes:
                    if arg is not target and arg not in after and arg.op != "get_attr" and arg not in extras:
                        extras.append(arg)
        suffix_graph = fx.Graph()
        env = {target: suffix_graph.placeholder("activations")}
        for i, node in enumerate(extras):
            env[node] = suffix_graph.placeholder(f"extra_{i}")
        for node in graph.nodes:
            if node.op == "get_attr" and any(u in after for u in node.users):
                env[node] = suffix_graph.node_copy(node, lambda n: env[n])
            elif node in after:
                env[node] = suffix_graph.node_copy(node, lambda n: env[n])
        self.suffix = fx.GraphModule(traced, suffix_graph)
        _make_input_readers_out_of_place(self.suffix)

        # Prefix: the original graph returning (target, *extras), dead code removed.
        prefix_graph = fx.Graph()
        penv: dict[fx.Node, fx.Node] = {}
        for node in graph.nodes:
            if node.op == "output":
                continue
            penv[node] = prefix_graph.node_copy(node, lambda n: penv[n])
        prefix_graph.output(tuple(penv[n] for n in [target, *extras]))
        self.prefix = fx.GraphModule(traced, prefix_graph)
        self.prefix.graph.eliminate_dead_code()
        self.prefix.recompile()
        self.n_extras = len(extras)
        self.guided_prefix = _guided_copy(self.prefix)
        self.guided_suffix = _guided_copy(self.suffix)
        self._linear_head = _find_linear_head(self.suffix) if not extras else None

    def run_prefix(self, x: torch.Tensor, guided: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = (self.guided_prefix if guided else self.prefix)(x)
        return out[0], list(out[1:])

    def run_suffix(self, activations: torch.Tensor, extras: list[torch.Tensor],
                   guided: bool = False) -> torch.Tensor:
        return (self.guided_suffix if guided else self.suffix)(activations, *extras)

    @property
    def linear_head(self) -> torch.nn.Linear | None:
        """The Linear layer when the suffix is global-average-pool (+flatten, dropout) + Linear.

        Then a class score is exactly affine in the per-channel means of the activations,
        which AblationCAM uses for its closed form.
        """
        return self._linear_head


def _make_input_readers_out_of_place(gm: fx.GraphModule) -> None:
    """The suffix must never overwrite the activations it is given (DenseNet starts with
    ``F.relu(features, inplace=True)``): the caller reuses them, and autograd refuses
    in-place ops on a leaf."""
    for node in gm.graph.nodes:
        if not any(arg.op == "placeholder" for arg in node.all_input_nodes):
            continue
        if node.op == "call_function" and node.kwargs.get("inplace"):
            node.kwargs = {**node.kwargs, "inplace": False}
        elif node.op == "call_function" and node.target in (torch.relu_, F.relu_):
            node.target = torch.relu
        elif node.op == "call_method" and node.target.endswith("_") and not node.target.startswith("_"):
            node.target = node.target[:-1]
        elif node.op == "call_module" and getattr(gm.get_submodule(node.target), "inplace", False):
            if not isinstance(gm.get_submodule(node.target), torch.nn.ReLU):
                raise GraphSplitError(f"layer {node.target!r} after the target overwrites its input")
            node.op, node.target = "call_function", torch.relu
    gm.recompile()


def _find_linear_head(suffix: fx.GraphModule) -> torch.nn.Linear | None:
    linear = None
    pooled = False
    for node in suffix.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "call_module":
            sub = suffix.get_submodule(node.target)
            if isinstance(sub, torch.nn.AdaptiveAvgPool2d) and sub.output_size in (1, (1, 1)):
                pooled = True
            elif isinstance(sub, torch.nn.Dropout | torch.nn.Identity | torch.nn.Flatten):
                pass
            elif isinstance(sub, torch.nn.Linear) and linear is None and pooled:
                linear = sub
            else:
                return None
        elif node.op == "call_function" and node.target is torch.flatten:
            pass
        elif node.op == "call_function" and node.target is F.adaptive_avg_pool2d and node.args[1:] in ((1,), ((1, 1),)):
            pooled = True
        elif node.op == "call_method" and node.target in ("flatten", "view", "reshape", "size"):
            pass
        elif node.op == "call_function" and node.target is operator.getitem:
            pass
        else:
            return None
    return linear if pooled else None
