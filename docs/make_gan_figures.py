"""Renders a StyleGAN run's figures for the docs: its Fréchet-distance curve, generated and
real sample grids, a style-mixing grid, and a summary page that shows them.

    python docs/make_gan_figures.py --run runs/starry-gan/starry-gan.run

Reads RUN/metrics.jsonl and RUN/checkpoint.pt (for the data and options the run used) and the
exported generator beside it; writes docs/stylegan_{fid.svg,samples.jpg,truncated.jpg,
mixing.jpg,real.jpg} and docs/stylegan_results.md.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top`."""
    raw = top / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    return [i * step for i in range(int(math.ceil(top / step)) + 1)]


def curve_svg(rows: list[dict], width: int = 640, height: int = 360) -> str:
    """A line chart of value against kimg, with the real-vs-real floor dashed; plain SVG, no plotting library."""
    label, samples = rows[-1]["metric"], rows[-1]["samples"]
    floor = rows[-1].get("real_vs_real")
    xs, ys = [r["kimg"] for r in rows], [r["value"] for r in rows]
    left, right, top, bottom = 70, 20, 40, 50
    xt, yt = nice_ticks(max(xs)), nice_ticks(max(ys + ([floor] if floor else [])) * 1.05)
    sx = lambda x: left + (width - left - right) * x / xt[-1]  # noqa: E731
    sy = lambda y: height - bottom - (height - top - bottom) * y / yt[-1]  # noqa: E731
    title = f"{label} over training ({samples} generated vs {samples} real images)"
    if label != "FID":
        title += " — not FID"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>']
    for x in xt:
        out.append(f'<line x1="{sx(x):.1f}" y1="{sy(0):.1f}" x2="{sx(x):.1f}" y2="{sy(yt[-1]):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{sx(x):.1f}" y="{sy(0) + 16:.1f}" text-anchor="middle">{x:g}</text>')
    for y in yt:
        out.append(f'<line x1="{sx(0):.1f}" y1="{sy(y):.1f}" x2="{sx(xt[-1]):.1f}" y2="{sy(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{sx(0) - 6:.1f}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle">'
               'thousands of training images (kimg)</text>')
    out.append(f'<text transform="translate(16 {(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">'
               f'{label} (lower is better)</text>')
    if floor:
        out.append(f'<line x1="{sx(0):.1f}" y1="{sy(floor):.1f}" x2="{sx(xt[-1]):.1f}" y2="{sy(floor):.1f}" '
                   'stroke="#888" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{sx(xt[-1]) - 4:.1f}" y="{sy(floor) - 6:.1f}" text-anchor="end" fill="#555">'
                   f'real vs real: {floor:.3g}</text>')
    points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys))
    out.append(f'<polyline points="{points}" fill="none" stroke="#1f5fa8" stroke-width="2"/>')
    out += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="#1f5fa8"/>' for x, y in zip(xs, ys)]
    return "\n".join(out + ["</svg>\n"])


def real_grid(config: dict, count: int = 64) -> np.ndarray:
    """Real training crops, drawn exactly as the trainer drew them."""
    from stylestream.jobs.generate import tile
    from trainers.data import ImageFolderSampler

    sampler = ImageFolderSampler(config["data"], config["resolution"], scale=tuple(config["crop_scale"]),
                                 seed=config["seed"])
    crops = sampler.batch(10**9, count)  # a "step" training never reached
    return tile((crops.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8), 8)


def main() -> None:
    from stylestream.jobs.generate import generate_grid, mixing_grid
    from stylestream.generator import GeneratorEngine
    from stylestream.imagefile import write_image
    from trainers.services import load_state

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="the run's folder (OUT with .run suffix)")
    p.add_argument("--generator", type=Path, help="exported generator (default: the run's --out)")
    p.add_argument("--out-dir", type=Path, default=HERE)
    args = p.parse_args()

    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    ckpt = load_state(args.run / "checkpoint.pt")
    config = ckpt["extra"]["config"]
    gen = GeneratorEngine(args.generator or config["out"], "cpu")
    d = args.out_dir
    (d / "stylegan_fid.svg").write_text(curve_svg(rows))
    generate_grid(gen, list(range(64)), str(d / "stylegan_samples.jpg"), psi=1.0, cols=8)
    generate_grid(gen, list(range(64)), str(d / "stylegan_truncated.jpg"), psi=0.7, cols=8)
    mixing_grid(gen, list(range(100, 104)), list(range(200, 206)), str(d / "stylegan_mixing.jpg"),
                crossover=gen.num_ws // 2)
    write_image(d / "stylegan_real.jpg", real_grid(config))

    last, hours = rows[-1], ckpt["extra"].get("seconds", 0) / 3600
    floor = (f"; two independent sets of {last['samples']} real crops score {last['real_vs_real']:.3g}, "
             "the best a generator could do at this sample count" if last.get("real_vs_real") else "")
    table = "\n".join(f"| {r['step']} | {r['kimg']:g} | {r['value']:.4g} |" for r in rows)
    (d / "stylegan_results.md").write_text(f"""# StyleGAN demonstration run

`{gen.name}`: {config['resolution']} px, {ckpt['step']} steps of batch {config['batch']}
({last['kimg']:g} kimg) in {hours:.2f} h of training, on {Path(config['data']).name}
(crop scale {config['crop_scale'][0]:g}–{config['crop_scale'][1]:g}). Rendered by `docs/make_gan_figures.py`.

![{last['metric']} curve](stylegan_fid.svg)

{last['metric']} at the end: **{last['value']:.4g}**{floor}.
{"FID-VGG16 is the Fréchet distance on VGG16 relu5_3 features: not comparable with FID." if last['metric'] != "FID" else ""}

| step | kimg | {last['metric']} |
|---:|---:|---:|
{table}

Generated, seeds 0–63, ψ = 1 (left) and real training crops (right):

![generated](stylegan_samples.jpg) ![real](stylegan_real.jpg)

The same seeds with truncation ψ = 0.7:

![truncated](stylegan_truncated.jpg)

Style mixing: each cell takes its row's styles before layer {gen.num_ws // 2} of {gen.num_ws} and its column's from there on:

![mixing](stylegan_mixing.jpg)
""")
    print(f"wrote {', '.join(n for n in ('stylegan_fid.svg', 'stylegan_samples.jpg', 'stylegan_truncated.jpg', 'stylegan_mixing.jpg', 'stylegan_real.jpg', 'stylegan_results.md'))} to {d}")


if __name__ == "__main__":
    main()
