"""`video`: a video file through the stylizer's stages (pipeline.VideoJob) into an H.264 file,
audio copied."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2

from stylestream.errors import UserError
from stylestream.jobs.progress import progress_bar, signal_name, stop_on_signals
from stylestream.pipeline import VideoJob
from stylestream.regions import Regions
from stylestream.schedule import StyleSchedule
from stylestream.sinks import DEFAULT_PRESET, VideoFileSink, pick_encoder, refuse_overwriting_inputs
from stylestream.sources import VideoFileSource
from stylestream.stylizer import Stylizer
from stylestream.temporal import DEFAULT_STRENGTH


# Multiply-adds per pixel under which a net gets one more frame in flight beside temporal
# consistency (stylize_video): the zoo's compact nets cost 10 k, the full nets 154 k.
LIGHT_NET_MACS = 40_000


def stylize_video(src: str, dst: str, stylizer: Stylizer, crf: int = 18, preset: str = DEFAULT_PRESET,
                  progress: bool = True, temporal_strength: float | None = DEFAULT_STRENGTH,
                  regions: Regions | None = None, bar=None, schedule: StyleSchedule | None = None) -> dict:
    """`temporal_strength` None turns optical-flow temporal consistency off (of the masks too);
    `regions` stylizes part of each frame; `schedule` changes the style at set times
    (`stylizer` is its first). `bar`: a progress bar over a batch to count the
    frames into, left open; None: this video's own (if `progress`)."""
    dst_path = Path(dst)
    refuse_overwriting_inputs(dst_path, [src, stylizer.engine.path])
    source = VideoFileSource(src)
    width, height = source.size
    stop = threading.Event()
    with stop_on_signals(stop) as caught:
        try:
            sink = VideoFileSink(dst_path, width, height, source.rate, source.time_base, source.audio, crf=crf,
                                 preset=preset, encoder=pick_encoder(stylizer.engine.device))
        except BaseException:
            source.close()
            raise
        temporal = stylizer.temporal(temporal_strength) if temporal_strength is not None else None
        ahead = stylizer.frames_at_once
        cost = stylizer.engine.macs_per_pixel
        if ahead > 1 and temporal is not None and temporal.concurrent and cost is not None \
                and cost < LIGHT_NET_MACS:
            # Beside a net this cheap, the flow stage (decode thread) and the blend stage (in
            # frame order) leave the cores idle now and then; one more frame queued for the engine
            # fills those gaps. Without consistency the extra frame only contends, and a full
            # net gains nothing from it and would hold 25 % more memory. bikes.mp4, compact
            # starry, OpenVINO bf16 on 2 cores, `stylestream video --json` 3 times each,
            # interleaved: 43.7 44.3 45.7 FPS with 2 frames in flight, 45.1 47.1 48.1 with 3.
            ahead += 1
        if regions is not None:
            regions.start(temporal_strength)
        if schedule is not None:
            try:
                schedule.start(source.rate, source.video.start_time)
            except BaseException:
                sink.abort()
                source.close()
                raise
        job = VideoJob(source, sink, stylizer, temporal, frames_at_once=ahead, stop=stop, regions=regions,
                       schedule=schedule)
        own_bar = bar is None
        if own_bar:
            bar = progress_bar(source.declared_frames, progress)
        job.on_frame = lambda n: bar.update(1)
        # The job's stages already keep the cores busy; OpenCV's own worker threads would only
        # contend with them, and they make DIS flow (so the blended video) differ run to run.
        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(0)
        start = time.perf_counter()
        try:
            interrupted = job.run()
            if job.frames == 0 and not interrupted:
                raise UserError(f"{src}: no decodable video frames")
            out = sink.close()
        except BaseException:
            sink.abort()
            raise
        finally:
            cv2.setNumThreads(cv_threads)
            if own_bar:
                bar.close()
            source.close()
    seconds = time.perf_counter() - start
    summary = {
        "input": src, "output": str(out), "style": stylizer.engine.name,
        "arch": stylizer.engine.metadata.get("arch"), "device": stylizer.engine.device, "backend": stylizer.engine.backend,
        "precision": stylizer.engine.precision, "encoder": sink.stream.codec_context.name,
        "frames": job.frames, "seconds": round(seconds, 3), "fps": round(job.frames / seconds, 2) if seconds else 0.0,
        "stage_fps": job.stage_fps(), "frames_in_flight": ahead, "width": sink.width, "height": sink.height,
        "audio_streams": len(sink.audio_map), "interrupted": interrupted,
        "temporal": temporal_strength,
        **(schedule.describe() if schedule is not None else {}),
        **({"regions": regions.describe()} if regions is not None else {}),
        "signal": signal_name(caught),
        # Damage is handled as ffmpeg does: corrupt packets are skipped and counted, and the
        # frames that decode are written. A container that promised more frames than it gave
        # was truncated (or lost packets the decoder never saw).
        "skipped_packets": source.decode_errors,
        "declared_frames": source.video.frames or None,
    }
    missing = source.video.frames - source.frames_decoded if source.video.frames else 0
    if source.decode_errors or (missing > 0 and not interrupted):
        skipped = source.decode_errors
        summary["damaged"] = ("input is damaged or truncated: "
                              + (f"skipped {skipped} corrupt packet{'s' if skipped != 1 else ''}, " if skipped else "")
                              + f"wrote the {job.frames} decodable frames"
                              + (f" of {source.video.frames}" if missing > 0 else ""))
    return summary
