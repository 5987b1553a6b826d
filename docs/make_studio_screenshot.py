"""Makes docs/studio.jpg: the studio page (`webcam --serve`) in headless Chromium, serving
examples/sample.mp4 looped as the camera, with the candy style.

    python docs/make_studio_screenshot.py [--style candy]

Needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import webdriver  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", default="candy")
    p.add_argument("-o", "--output", default=str(ROOT / "docs" / "studio.jpg"))
    args = p.parse_args()
    if webdriver.missing():
        raise SystemExit(webdriver.missing())
    proc = subprocess.Popen([sys.executable, "-m", "stylestream", "webcam", "--camera", str(ROOT / "examples" / "sample.mp4"),
                             "--loop", "--no-window", "--serve", "127.0.0.1:0", "--style", args.style],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = next(m.group(1) for line in proc.stderr if (m := re.search(r"studio page at (http://\S+)", line)))
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        with webdriver.Browser() as browser:
            browser.open(url)
            browser.wait_for("return window.studio.frames >= 30", 120)
            time.sleep(2)                        # the meter's figures settle
            shot = cv2.imdecode(np.frombuffer(browser.screenshot(), np.uint8), cv2.IMREAD_COLOR)
        cv2.imwrite(args.output, shot, [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(args.output)
    finally:
        proc.terminate()
        proc.wait(60)


if __name__ == "__main__":
    main()
