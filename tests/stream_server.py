"""A stream receiver for the stream-out tests: PyAV listening on an RTMP or UDP URL, printing
one JSON line per decoded video or audio frame (wall-clock arrival, timestamp), until the
sender goes away or the process is killed.

    python stream_server.py rtmp://127.0.0.1:PORT/live/key
    python stream_server.py udp://127.0.0.1:PORT
"""
from __future__ import annotations

import json
import sys
import time

import av


def main(url: str) -> None:
    rtmp = url.startswith("rtmp")
    # Small probes: the first frame is reported as it arrives, not after seconds of analysis.
    options = {"probesize": "32", "analyzeduration": "100000", **({"listen": "1"} if rtmp else {})}
    print(json.dumps({"listening": time.time()}), flush=True)
    container = av.open(url, "r", format="flv" if rtmp else "mpegts", options=options, timeout=60)
    print(json.dumps({"opened": time.time(), "streams": [s.type for s in container.streams]}), flush=True)
    try:
        for packet in container.demux():
            if not packet.size or packet.stream.type not in ("video", "audio"):
                continue
            for frame in packet.decode():
                line = {"type": packet.stream.type, "t": time.time(),
                        "pts": float(frame.pts * frame.time_base) if frame.pts is not None else None}
                if packet.stream.type == "video":
                    line["mean"] = float(frame.to_ndarray(format="rgb24").mean())
                print(json.dumps(line), flush=True)
    except (av.error.FFmpegError, OSError):
        pass        # the sender went away


if __name__ == "__main__":
    main(sys.argv[1])
