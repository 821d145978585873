"""The shipped models' file format: a .npz written so that two trainings of the same data give
byte-identical files (reproducible artifacts), and read without unpickling."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def write_npz(path: Path, arrays: Mapping[str, Any]) -> None:
    """np.savez stamps each member with the current time; a fixed stamp makes the file depend on
    the arrays alone."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
