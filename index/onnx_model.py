"""The model on ONNX Runtime: exported once from the model folder's own weights, then cached.

The cached files are named by a hash of the weights' content, so a changed model is exported
again instead of being answered by a stale graph. Export needs torch (already installed for the
torch backend) but runs only when no cached file fits; every write is a temp file renamed into
place, so a crash or a concurrent export never leaves a half-written model behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from index.embedding import Forward, load_torch_model
from index.errors import NewsqaError

# Bump when the export itself changes (inputs, opset, quantisation), so old caches are not used.
EXPORT_VERSION = 1
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

log = logging.getLogger(__name__)


def onnx_forward(folder: Path, *, quantised: bool, cache_dir: Path) -> Forward:
    """The forward function of folder's model on ONNX Runtime, exporting it first if needed."""
    session = cached_model(folder, quantised=quantised, cache_dir=cache_dir)
    inputs = {i.name for i in session.get_inputs()}

    def forward(
        ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64], types: npt.NDArray[np.int64]
    ) -> Any:
        feed = dict(zip(_INPUTS, (ids, mask, types), strict=True))
        return session.run(None, {k: v for k, v in feed.items() if k in inputs})[0]

    return forward


def cached_model(folder: Path, *, quantised: bool, cache_dir: Path) -> Any:
    """An ONNX Runtime session of folder's exported model (int8 or fp32), exported first if its
    cached file is missing or unreadable."""
    stem = f"{folder.name}-{weights_hash(folder)}-v{EXPORT_VERSION}"
    fp32 = cache_dir / f"{stem}-fp32.onnx"
    target = cache_dir / f"{stem}-int8.onnx" if quantised else fp32
    session = _load(target)
    if session is not None:
        return session
    cache_dir.mkdir(parents=True, exist_ok=True)
    if _load(fp32) is None:
        log.info("exporting %s to ONNX in %s (once)", folder, cache_dir)
        with _atomic(fp32) as temp:
            _export(folder, temp)
    if quantised:
        with _atomic(target) as temp:
            _quantise(fp32, temp)
    session = _load(target)
    if session is None:
        raise NewsqaError(f"the exported model {target} does not load in ONNX Runtime")
    return session


def weights_hash(folder: Path) -> str:
    """A hash of the model's configuration and the full content of its weight files."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in {".json", ".safetensors", ".bin"}:
            digest.update(str(path.relative_to(folder)).encode())
            with open(path, "rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle threads sleep instead of spinning: FAISS's OpenMP threads search right after a
    # question is encoded, on the same two cores (README, "Threads").
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _load(path: Path) -> Any:
    """A session of the model in path, or None if there is none; a damaged file is removed."""
    if not path.is_file():
        return None
    try:
        return _session(path)
    except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
        log.warning("the cached model %s is unreadable (%s); exporting it again", path, exc)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None


@contextlib.contextmanager
def _atomic(final: Path) -> Iterator[Path]:
    """A temp path beside final, renamed onto it once written, loadable and synced."""
    temp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield temp
        if _load(temp) is None:
            raise NewsqaError(f"the exported model {temp} does not load in ONNX Runtime")
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


class _Hidden:
    """Wraps a transformer so the exported graph takes plain tensors and returns the last
    hidden state."""

    def __init__(self, model: Any) -> None:
        import torch

        class Module(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, ids: Any, mask: Any, types: Any) -> Any:
                out = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types)
                return out.last_hidden_state

        self.module = Module().eval()


def _export(folder: Path, target: Path) -> None:
    """Export folder's transformer to one ONNX file with dynamic batch and sequence axes."""
    try:
        import torch

        module = _Hidden(load_torch_model(folder)).module
        # Distinct example tensors: the exporter would otherwise treat the inputs as one.
        ids = torch.randint(1000, 2000, (2, 8))
        mask = torch.ones((2, 8), dtype=torch.long)
        types = torch.zeros((2, 8), dtype=torch.long)
        batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens")
        axes = {0: batch, 1: tokens}
        with _quiet_exporter():
            torch.onnx.export(
                module,
                (ids, mask, types),
                str(target),
                dynamo=True,
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_shapes={"ids": axes, "mask": axes, "types": axes},
                external_data=False,
            )
    except NewsqaError:
        raise
    except Exception as exc:  # the exporter fails in many ways; each means the same to a user
        raise NewsqaError(
            f"cannot export the model in {folder} to ONNX ({type(exc).__name__}: {exc}); "
            "set NEWSQA_ENCODER_BACKEND=torch to run it without ONNX"
        ) from exc


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter prints its progress, warns about its own internals and logs every optional
    operator it skips (torchvision's); none of it is for a user."""
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        exporter_log.setLevel(level)


def _quantise(source: Path, target: Path) -> None:
    """int8 weights, per output channel: per-tensor scales lost too much here (README)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # a hint about pre-processing, on every run
    try:
        quantize_dynamic(source, target, per_channel=True, weight_type=QuantType.QInt8)
    except Exception as exc:
        raise NewsqaError(f"cannot quantise {source} ({type(exc).__name__}: {exc})") from exc
    finally:
        logging.disable(previous)
