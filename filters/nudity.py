"""The nudity classifier behind one small interface: an image in, a 0-1 score out.

The shipped model is NudeNet's 320n detector (a YOLOv8n ONNX file that the `nudenet`
package carries inside itself, ~12 MB), run by onnxruntime: nothing is fetched at run
time. A site may point `[images] nudity_model` at another ONNX file of the same
output layout (NudeNet's 640m, say). The score of an image is the highest confidence
the detector gives any box of the classes the school counts (exposed genitalia,
breasts, buttocks, anus by default) - read from the raw output, before NudeNet's own
0.2 cut and box merging, so the configured threshold is the only decision made.

Pre-processing is NudeNet's: pad to a square at the bottom/right, scale to the input
size, RGB, 0-1 floats, NCHW. Done here with Pillow so an image is decoded once, by the
decoder whose pixel limit filters/image_hash.py enforces.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Protocol, Sequence

from filters.errors import SchoolgateError

# NudeNet 3.x's label order (the class columns of the model's output, after x, y, w, h).
NUDENET_LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
)
# What counts as a nude image for a school (male chests and bellies do not: PE kit, swimming).
DEFAULT_CLASSES = ("FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED",
                   "BUTTOCKS_EXPOSED", "ANUS_EXPOSED")


class NudityModelError(SchoolgateError):
    """The classifier cannot run (no model file, onnxruntime missing, a model of another shape)."""


class NudityModel(Protocol):
    name: str

    def score(self, image) -> float:
        """0-1: how sure the model is that the (RGB Pillow) image shows what the school counts."""
        ...


def shipped_model_path() -> Path:
    """The 320n model inside the installed nudenet package, found without importing it:
    nudenet's own module imports OpenCV, which the gateway does not need (importlib.resources
    would import it: ~40 MB in every worker, measured with bench/gateway_memory.py)."""
    spec = importlib.util.find_spec("nudenet")
    if spec is None or not spec.submodule_search_locations:
        raise NudityModelError("the nudenet package is not installed, so there is no shipped nudity model "
                               "(pip install nudenet, or set [images] nudity_model to an ONNX file)")
    path = Path(list(spec.submodule_search_locations)[0]) / "320n.onnx"
    if not path.is_file():
        raise NudityModelError(f"{path}: the nudenet package has no 320n.onnx model")
    return path


class OnnxNudityModel:
    """One onnxruntime session, shared by the executor threads (InferenceSession.run is thread-safe)."""

    def __init__(self, path: Path | None = None, classes: Sequence[str] = DEFAULT_CLASSES,
                 input_size: int = 320, threads: int = 1) -> None:
        self.path = Path(path) if path else shipped_model_path()
        unknown = [c for c in classes if c not in NUDENET_LABELS]
        if unknown:
            raise NudityModelError(f"unknown nudity classes {unknown} (known: {', '.join(NUDENET_LABELS)})")
        self._columns = [4 + NUDENET_LABELS.index(c) for c in classes]
        self.input_size = input_size
        self.name = f"nudenet:{self.path.name}"
        try:
            import onnxruntime
        except ImportError:
            raise NudityModelError("onnxruntime is not installed: the nudity classifier cannot run") from None
        options = onnxruntime.SessionOptions()
        # one thread per inference: the gateway's executor runs several, on a shared machine
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(str(self.path), sess_options=options,
                                                         providers=["CPUExecutionProvider"])
        except Exception as exc:  # missing file, not an ONNX model ...
            raise NudityModelError(f"{self.path}: cannot load the nudity model: {type(exc).__name__}: {exc}") from None
        inputs = self._session.get_inputs()
        self._input = inputs[0].name
        shape = self._session.get_outputs()[0].shape
        if len(shape) != 3 or (isinstance(shape[1], int) and shape[1] != 4 + len(NUDENET_LABELS)):
            raise NudityModelError(f"{self.path}: output shape {shape} is not NudeNet's "
                                   f"(1, {4 + len(NUDENET_LABELS)}, boxes)")

    def _blob(self, image):
        import numpy as np
        from PIL import Image

        width, height = image.size
        side = max(width, height)
        square = Image.new("RGB", (side, side), (0, 0, 0))
        square.paste(image, (0, 0))
        scaled = square.resize((self.input_size, self.input_size), Image.Resampling.BILINEAR)
        array = np.asarray(scaled, dtype=np.float32) / 255.0
        return np.ascontiguousarray(array.transpose(2, 0, 1)[None, ...])

    def score(self, image) -> float:
        output = self._session.run(None, {self._input: self._blob(image)})[0]
        # (1, 4 + classes, boxes): the best box of any counted class
        return float(output[0, self._columns, :].max())


class LazyModel:
    """Loads the model on first use (a gateway whose mail has no pupil images never pays for
    it) or at `preload()`; a load failure is remembered and raised every time, so each
    message it should have scored fails safe instead of passing unscored."""

    def __init__(self, path: Path | None, classes: Sequence[str]) -> None:
        self._path = path
        self._classes = tuple(classes)
        self._model: OnnxNudityModel | None = None
        self._error: NudityModelError | None = None
        self._lock = threading.Lock()

    def get(self) -> OnnxNudityModel:
        with self._lock:
            if self._model is None and self._error is None:
                try:
                    self._model = OnnxNudityModel(self._path, self._classes)
                except NudityModelError as exc:
                    self._error = exc
            if self._error is not None:
                raise self._error
            assert self._model is not None
            return self._model
