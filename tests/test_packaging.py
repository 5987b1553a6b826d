"""A regular (non-editable) install: the wheel holds every package and model, and the
main job runs from it alone."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

from conftest import ROOT, probe


def _packages_in_tree() -> set[str]:
    found = set()
    for top in ("stylestream", "stylenets", "trainers", "exports"):
        for init in (ROOT / top).rglob("__init__.py"):
            found.add(init.parent.relative_to(ROOT).as_posix())
    return found


def test_wheel_installs_and_runs_the_main_job(tmp_path):
    # Built from a clean copy: setuptools reuses a build/ folder, which can hold packages
    # that the current configuration would leave out.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".*", "build", "dist", "runs", "*.egg-info",
                                                              "__pycache__", "tests", "docs", "benchmarks"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("stylestream-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    assert _packages_in_tree() <= packaged, sorted(_packages_in_tree() - packaged)
    # every model file ships, the generators, segmentation nets and their licences included
    models = {p.relative_to(ROOT).as_posix() for p in (ROOT / "stylestream" / "models").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert "stylestream/models/generators/starry.onnx" in models
    assert models <= set(names), sorted(models - set(names))
    assert "stylestream/jobs/studio.html" in names       # webcam --serve's page

    # Installed on its own (dependencies come from this interpreter), run from a folder
    # outside the checkout so nothing can be imported from the source tree.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target), "STYLESTREAM_NO_PROGRESS": "1"}
    where = subprocess.run([sys.executable, "-c", "import stylestream, trainers.stylegan; print(stylestream.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert where.stdout.strip().startswith(str(target)), where.stdout
    out = tmp_path / "out.mp4"
    proc = subprocess.run([sys.executable, "-m", "stylestream", "video", str(ROOT / "examples" / "sample.mp4"), str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert probe(out)["frames"] == probe(ROOT / "examples" / "sample.mp4")["frames"]
