"""Model cards, architectures, safe checkpoint loading and device choice."""
from .architectures import Architecture, architecture_names, get_architecture, register_architecture
from .card import ModelCard, ModelCardError, load_card, sha256_of_file
from .checkpoint import CheckpointError, read_state_dict
from .device import describe_device, select_device
from .loaded_model import LoadedModel, Prediction, load_model, model_from_checkpoint, random_model
from .preprocessing import to_model_tensor

__all__ = [
    "Architecture", "architecture_names", "get_architecture", "register_architecture",
    "ModelCard", "ModelCardError", "load_card", "sha256_of_file", "CheckpointError",
    "read_state_dict", "describe_device", "select_device", "LoadedModel", "Prediction",
    "load_model", "model_from_checkpoint", "random_model", "to_model_tensor",
]
