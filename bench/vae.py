"""Memory and time of VAE encode + decode against video length, chunked vs whole, and speed vs Wan's VAE.

Memory: each point (duration, mode) runs in its own subprocess, which resets its peak-RSS
mark (/proc/self/clear_refs) after building the model and the input, runs encode + decode
without gradients, and reports peak RSS growth (tracemalloc cannot see torch's CPU buffers).
Chunked streaming should stay flat while whole-video memory grows with length.

Peer: diffusers' AutoencoderKLWan and our CausalVAE built at a matched size (4x8x8, same
latent channels, same widths and blocks, mid attention), random weights, same input,
same machine; one warm-up then one timed encode + decode each.

    python bench/vae.py                        # table
    python bench/vae.py --json                 # one JSON line
    python bench/vae.py --durations 1,5 --size 64 --fps 8 --threads 1 --image-size 0 --no-peer
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.models.vae import CausalVAE  # noqa: E402
from patchflow.recipes import get_recipe  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> bool:
    """Make VmHWM (ru_maxrss) restart from the current RSS; Linux only."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run_point(recipe: str, seconds: float, fps: int, size: int, chunk: int, mode: str) -> dict:
    """One (duration, mode) point, in this process: peak RSS growth and time of encode + decode."""
    torch.manual_seed(0)
    vae = CausalVAE(get_recipe(recipe).vae).eval()
    frames = 1 + int(round(seconds * fps)) // vae.temporal_factor * vae.temporal_factor
    video = torch.rand(1, 3, frames, size, size) * 2 - 1
    chunk_frames = chunk if mode == "chunked" else None
    with torch.no_grad():
        vae.decode(vae.encode(video[:, :, :1]))  # warm the kernels outside the measurement
    base = rss_mib()
    exact = reset_peak()
    start = time.perf_counter()
    with torch.no_grad():
        z = vae.encode(video, chunk_frames=chunk_frames)
        out = vae.decode(z, chunk_frames=chunk_frames)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    assert out.shape == video.shape
    return {"seconds": seconds, "frames": frames, "mode": mode, "peak_growth_mib": round(peak - base, 1),
            "time_s": round(elapsed, 3), "exact_peak": exact}


def run_image_point(recipe: str, size: int, tile: int) -> dict:
    """Decode one size x size image from latents, tiled (tile px) or whole (tile 0): peak RSS growth and time."""
    torch.manual_seed(0)
    vae = CausalVAE(get_recipe(recipe).vae).eval()
    s = vae.spatial_factor
    z = torch.randn(1, vae.latent_channels, 1, size // s, size // s)
    with torch.no_grad():
        vae.decode(z[..., :8, :8])  # warm-up
    base = rss_mib()
    exact = reset_peak()
    start = time.perf_counter()
    with torch.no_grad():
        out = vae.decode(z, tile=tile)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert out.shape[-2:] == (size, size)
    return {"image": size, "mode": f"tiled {tile}px" if tile else "whole", "peak_growth_mib": round(peak - base, 1),
            "time_s": round(elapsed, 3), "exact_peak": exact}


def _env() -> dict:
    # A fixed mmap threshold makes glibc give big freed buffers straight back to the OS, so RSS
    # follows what torch holds; with glibc's sliding threshold, freed chunk buffers linger in the
    # heap and RSS drifts up by a few hundred MiB whatever the mode.
    return {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}


def measure_in_subprocess(args, seconds: float, mode: str) -> dict:
    cmd = [sys.executable, __file__, "--point", mode, str(seconds), "--recipe", args.recipe, "--fps", str(args.fps),
           "--size", str(args.size), "--chunk", str(args.chunk), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def image_in_subprocess(args, tile: int) -> dict:
    cmd = [sys.executable, __file__, "--image-point", str(tile), "--recipe", args.recipe,
           "--image-size", str(args.image_size), "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def matched_pair(latent_channels: int, width: int):
    """Ours and Wan's VAE at 4x8x8 with the same widths, blocks and latent channels."""
    from diffusers import AutoencoderKLWan

    mults = [1, 2, 2, 2]
    cfg = get_recipe("debug").vae
    cfg.latent_channels, cfg.base_width, cfg.width_mults, cfg.num_res_blocks = latent_channels, width, mults, 1
    cfg.temporal_factor, cfg.spatial_factor, cfg.mid_attention, cfg.tile_size = 4, 8, True, 0
    torch.manual_seed(0)
    ours = CausalVAE(cfg).eval()
    peer = AutoencoderKLWan(
        base_dim=width, z_dim=latent_channels, dim_mult=mults, num_res_blocks=1,
        temperal_downsample=[False, True, True], latents_mean=[0.0] * latent_channels,
        latents_std=[1.0] * latent_channels,
    ).eval()
    return ours, peer


def time_peer(args) -> dict:
    ours, peer = matched_pair(args.peer_latent, args.peer_width)
    frames = 1 + 4 * 8  # 33 frames
    video = torch.rand(1, 3, frames, args.size, args.size) * 2 - 1
    result = {"input": [1, 3, frames, args.size, args.size], "factors": "4x8x8",
              "params_ours": sum(p.numel() for p in ours.parameters()),
              "params_peer": sum(p.numel() for p in peer.parameters())}
    with torch.no_grad():
        for name, enc, dec in (
            ("ours", lambda x: ours.encode(x), lambda z: ours.decode(z)),
            ("peer", lambda x: peer.encode(x).latent_dist.mean, lambda z: peer.decode(z).sample),
        ):
            dec(enc(video[:, :, :5]))  # warm-up
            start = time.perf_counter()
            z = enc(video)
            mid = time.perf_counter()
            dec(z)
            end = time.perf_counter()
            result[f"{name}_encode_s"], result[f"{name}_decode_s"] = round(mid - start, 3), round(end - mid, 3)
    result["speedup"] = round((result["peer_encode_s"] + result["peer_decode_s"]) /
                              (result["ours_encode_s"] + result["ours_decode_s"]), 2)
    return result


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="world_tiny", help="recipe whose VAE is measured (random weights)")
    ap.add_argument("--durations", default="1,5,15,30,60", help="seconds of video")
    ap.add_argument("--fps", type=int, default=8)
    ap.add_argument("--size", type=int, default=64, help="frame side in pixels")
    ap.add_argument("--chunk", type=int, default=16, help="frames per chunk when streaming")
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    ap.add_argument("--peer-width", type=int, default=32)
    ap.add_argument("--peer-latent", type=int, default=8)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--image-size", type=int, default=1024, help="side of the big image decoded tiled vs whole")
    ap.add_argument("--image-tile", type=int, default=256)
    ap.add_argument("--point", nargs=2, metavar=("MODE", "SECONDS"), help=argparse.SUPPRESS)
    ap.add_argument("--image-point", type=int, metavar="TILE", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.point:
        print(json.dumps(run_point(args.recipe, float(args.point[1]), args.fps, args.size, args.chunk, args.point[0])))
        return {}
    if args.image_point is not None:
        print(json.dumps(run_image_point(args.recipe, args.image_size, args.image_point)))
        return {}
    points = [measure_in_subprocess(args, float(s), mode)
              for s in args.durations.split(",") for mode in ("chunked", "whole")]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"threads {torch.get_num_threads()}",
        "recipe": args.recipe, "size": args.size, "fps": args.fps, "chunk_frames": args.chunk, "points": points,
        "image": [image_in_subprocess(args, tile) for tile in (args.image_tile, 0)] if args.image_size else [],
        "peer": None if args.no_peer else time_peer(args),
    }
    if args.json:
        print(json.dumps(result))
        return result
    print(f"{result['machine']}; recipe {args.recipe} VAE, {args.size}x{args.size} @ {args.fps} fps")
    print(f"{'seconds':>8} {'frames':>7} {'mode':>8} {'peak MiB':>9} {'time s':>8}")
    for p in points:
        print(f"{p['seconds']:>8g} {p['frames']:>7} {p['mode']:>8} {p['peak_growth_mib']:>9.1f} {p['time_s']:>8.2f}")
    for p in result["image"]:
        print(f"image {p['image']}x{p['image']} decode {p['mode']:>12}: peak {p['peak_growth_mib']:.1f} MiB, "
              f"{p['time_s']:.2f} s")
    if result["peer"]:
        print("vs diffusers AutoencoderKLWan (matched size):", json.dumps(result["peer"]))
    return result


if __name__ == "__main__":
    main()
