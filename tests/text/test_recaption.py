"""Re-captioning a manifest: the logic with an in-process captioner, then `patchflow data caption` end to end
against a loopback chat-completions server and a tiny random Hugging Face vision-language model.

Every clip says who it is: frame t of clip k has red 30 + 40 k and green 10 + 12 t, so a captioner (or the chat
server) can tell which row's frames it was shown, and which of its frames.
"""

import base64
import io
import json
import re
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.data.manifest import read_manifest, write_manifest
from patchflow.media import write_image, write_video
from patchflow.text.backends import get_captioner, get_expander
from patchflow.text.recaption import (
    ERROR,
    MODEL,
    ORIGINAL,
    clip_frames,
    failed_path,
    frame_plan,
    progress_path,
    recaption,
)

runner = CliRunner()
SECRET = "sk-recaption-test-0123456789"
CLIP_FRAMES, CLIP_FPS = 17, 16.0
VIDEO_CLIPS = (0, 1, 2, 3)  # clip 4 is an image, clip 5 a video row without frame count or rate


def clip_array(k: int, num_frames: int = CLIP_FRAMES, height: int = 32, width: int = 48) -> np.ndarray:
    """(T, H, W, 3) uint8: red names the clip, green the frame."""
    frames = np.full((num_frames, height, width, 3), 128, np.uint8)
    frames[..., 0] = 30 + 40 * k
    frames[..., 1] = (10 + 12 * np.arange(num_frames))[:, None, None]
    return frames


def clip_of(frame_hw3: np.ndarray) -> int:
    return int(round((float(np.median(frame_hw3[..., 0])) - 30) / 40))


def frame_of(frame_hw3: np.ndarray) -> int:
    return int(round((float(np.median(frame_hw3[..., 1])) - 10) / 12))


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("recaption_media")
    for k in (*VIDEO_CLIPS, 5):
        write_video(root / f"clip{k}.mp4", clip_array(k), fps=CLIP_FPS)
    write_image(root / "clip4.png", clip_array(4, 1)[0])
    (root / "broken.mp4").write_text("this is not a video\n" * 20)
    return root


def manifest_rows(media) -> list[dict]:
    """Six good rows (videos, an image, a video without sizes as in a Hugging Face metadata file), a file that
    does not decode and one that is not there."""
    rows = [{"path": str(media / f"clip{k}.mp4"), "text": f"old caption {k}", "num_frames": CLIP_FRAMES,
             "fps": CLIP_FPS} for k in VIDEO_CLIPS]
    rows.append({"path": str(media / "clip4.png"), "text": "old caption 4", "num_frames": 1, "fps": 0.0})
    rows.append({"path": str(media / "clip5.mp4"), "text": "old caption 5"})
    rows.append({"path": str(media / "broken.mp4"), "text": "old broken", "num_frames": 9, "fps": 8.0})
    rows.append({"path": str(media / "gone.mp4"), "text": "old gone", "num_frames": 9, "fps": 8.0})
    return rows


GOOD = 6  # rows that decode
BAD = {"broken.mp4", "gone.mp4"}


class Counting:
    """A captioner that names the clip it saw and counts its calls; it can fail on one clip, or raise
    KeyboardInterrupt (as Ctrl-C would) on call number `interrupt_at`."""

    def __init__(self, prefix: str = "seen", fail_clip: int | None = None, interrupt_at: int | None = None):
        self.prefix, self.fail_clip, self.interrupt_at = prefix, fail_clip, interrupt_at
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def caption(self, frames: np.ndarray) -> str:
        clip = clip_of(frames[0])
        with self.lock:
            self.calls.append(clip)
            number = len(self.calls)
        if number == self.interrupt_at:
            raise KeyboardInterrupt
        if clip == self.fail_clip:
            raise RuntimeError("the model fell over")
        return f"{self.prefix} clip {clip} in {len(frames)} frames"


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {row["path"].rsplit("/", 1)[-1]: row for row in rows}


@pytest.mark.parametrize("ext", ["jsonl", "csv", "parquet"])
def test_captions_replace_text_keep_the_original_and_record_failures(media, tmp_path, ext):
    manifest = write_manifest(manifest_rows(media), tmp_path / f"manifest.{ext}")
    first = Counting(fail_clip=2)
    result = recaption(manifest, first, model_label="fake:v1", num_frames=4)
    assert result.captioned == GOOD - 1 and len(result.failed) == 3 and result.manifest == manifest
    assert sorted(first.calls) == [0, 1, 2, 3, 4, 5]  # the undecodable files never reach the captioner

    rows = by_name(read_manifest(manifest))
    for k in (0, 1, 3, 5):
        assert rows[f"clip{k}.mp4"]["text"] == f"seen clip {k} in 4 frames"
        assert rows[f"clip{k}.mp4"][ORIGINAL] == f"old caption {k}" and rows[f"clip{k}.mp4"][MODEL] == "fake:v1"
        assert not rows[f"clip{k}.mp4"].get(ERROR)
    assert rows["clip4.png"]["text"] == "seen clip 4 in 1 frames"  # an image is one frame
    assert rows["clip2.mp4"]["text"] == "old caption 2" and "the model fell over" in rows["clip2.mp4"][ERROR]
    assert rows["broken.mp4"][ERROR].startswith("cannot decode") and rows["broken.mp4"]["text"] == "old broken"
    assert "no such file" in rows["gone.mp4"][ERROR]
    failed = {r["path"].rsplit("/", 1)[-1]: r["reason"] for r in read_manifest(failed_path(manifest))}
    assert set(failed) == BAD | {"clip2.mp4"} and "fell over" in failed["clip2.mp4"]
    assert not progress_path(manifest).exists()

    # A second run retries only the failed rows; the first run's captions and the originals stay.
    second = Counting(prefix="again")
    result = recaption(manifest, second, model_label="fake:v1", num_frames=4)
    assert second.calls == [2] and result.skipped == GOOD - 1 and result.captioned == 1
    rows = by_name(read_manifest(manifest))
    assert rows["clip2.mp4"]["text"] == "again clip 2 in 4 frames" and rows["clip2.mp4"][ORIGINAL] == "old caption 2"
    assert not rows["clip2.mp4"].get(ERROR) and rows["clip0.mp4"]["text"] == "seen clip 0 in 4 frames"
    assert {r["path"].rsplit("/", 1)[-1] for r in read_manifest(failed_path(manifest))} == BAD

    # --overwrite captions every row again, and the original is still the manifest's own caption.
    third = Counting(prefix="third")
    recaption(manifest, third, model_label="fake:v2", num_frames=4, overwrite=True)
    assert sorted(third.calls) == [0, 1, 2, 3, 4, 5]
    rows = by_name(read_manifest(manifest))
    assert rows["clip3.mp4"]["text"].startswith("third") and rows["clip3.mp4"][ORIGINAL] == "old caption 3"
    assert rows["clip3.mp4"][MODEL] == "fake:v2"


@pytest.mark.parametrize("concurrency", [1, 3])
def test_resume_after_an_interruption_does_not_redo_finished_rows(media, tmp_path, concurrency):
    manifest = write_manifest(manifest_rows(media), tmp_path / "manifest.jsonl")
    before = manifest.read_bytes()
    interrupted = Counting(interrupt_at=4)
    with pytest.raises(KeyboardInterrupt):
        recaption(manifest, interrupted, model_label="fake", num_frames=2, concurrency=concurrency)
    assert manifest.read_bytes() == before  # the manifest is only written whole, at the end
    finished = [json.loads(line) for line in progress_path(manifest).read_text().splitlines()]
    done = {clip_of_path(e["path"]) for e in finished if "caption" in e}
    assert len(done) >= 3 - (concurrency - 1) and len(done) == len([e for e in finished if "caption" in e])

    resumed = Counting()
    result = recaption(manifest, resumed, model_label="fake", num_frames=2, concurrency=concurrency)
    assert not done & set(resumed.calls)  # nothing finished is captioned again
    assert done | set(resumed.calls) == {0, 1, 2, 3, 4, 5} and len(resumed.calls) == len(set(resumed.calls))
    assert result.resumed == len(done) and result.captioned == len(resumed.calls)
    rows = read_manifest(manifest)
    assert all(r[MODEL] == "fake" and r["text"].startswith("seen clip") for r in rows if not r.get(ERROR))
    assert not progress_path(manifest).exists()


def clip_of_path(path: str) -> int:
    return int(re.search(r"clip(\d)", path).group(1))


def test_a_progress_line_cut_short_by_a_crash_is_redone(media, tmp_path):
    manifest = write_manifest(manifest_rows(media)[:3], tmp_path / "manifest.csv")
    rows = read_manifest(manifest)
    progress_path(manifest).write_text(
        json.dumps({"row": 0, "path": rows[0]["path"], "caption": "from before the crash", "model": "fake"}) + "\n"
        + json.dumps({"row": 1, "path": "/elsewhere/other.mp4", "caption": "another manifest's", "model": "x"})
        + "\n" + '{"row": 2, "path": "' + rows[2]["path"][:10])  # the crash came mid-line
    captioner = Counting()
    result = recaption(manifest, captioner, model_label="fake", num_frames=2)
    assert sorted(captioner.calls) == [1, 2] and result.resumed == 1
    assert [r["text"] for r in read_manifest(manifest)][0] == "from before the crash"


def test_limit_and_another_output_file(media, tmp_path):
    manifest = write_manifest(manifest_rows(media)[:4], tmp_path / "manifest.jsonl")
    before = manifest.read_bytes()
    out = tmp_path / "recaptioned" / "captions.parquet"
    first = Counting()
    result = recaption(manifest, first, model_label="fake", out=out, limit=2, num_frames=2)
    assert first.calls == [0, 1] and result.left == 2 and manifest.read_bytes() == before
    assert [bool(r.get(MODEL)) for r in read_manifest(out)] == [True, True, False, False]

    # The same output again (here from a grown manifest): only the rows it has no caption for are done.
    write_manifest(manifest_rows(media)[:5], manifest)
    second = Counting()
    result = recaption(manifest, second, model_label="fake", out=out, num_frames=2)
    assert second.calls == [2, 3, 4] and result.skipped == 2
    assert all(r[MODEL] == "fake" and r[ORIGINAL].startswith("old caption") for r in read_manifest(out))


def test_a_backend_that_keeps_failing_stops_the_run_and_keeps_what_it_did(media, tmp_path):
    manifest = write_manifest(manifest_rows(media)[:6], tmp_path / "manifest.jsonl")

    class Down:
        calls = 0

        def caption(self, frames):
            Down.calls += 1
            raise ConnectionError("server down")

    result = recaption(manifest, Down(), model_label="fake", num_frames=2, failures_to_stop=3)
    assert Down.calls == 3 and result.stopped and "3 rows in a row" in result.stopped
    rows = read_manifest(manifest)
    assert [bool(r.get(ERROR)) for r in rows] == [True, True, True, False, False, False]
    assert all("ConnectionError: server down" in r[ERROR] for r in rows[:3])


def test_clip_frames_are_spread_evenly_or_the_whole_clip_and_scaled_down(media):
    row = {"path": str(media / "clip1.mp4"), "num_frames": CLIP_FRAMES, "fps": CLIP_FPS}
    spread, fps = clip_frames(row, 5)
    assert spread.shape == (5, 32, 48, 3) and [frame_of(f) for f in spread] == [0, 4, 8, 12, 16]
    assert {clip_of(f) for f in spread} == {1} and fps == CLIP_FPS / 4
    whole, fps = clip_frames(row, None)  # the clip as it plays: every frame
    assert [frame_of(f) for f in whole] == list(range(CLIP_FRAMES)) and fps == CLIP_FPS
    probed, _ = clip_frames({"path": str(media / "clip5.mp4")}, 3)  # no count or rate in the row: probed
    assert [frame_of(f) for f in probed] == [0, 8, 16]
    assert clip_frames(row, 2, max_side=24)[0].shape == (2, 16, 24, 3)  # longer side 48 -> 24, aspect kept
    image, fps = clip_frames({"path": str(media / "clip4.png")}, 8)
    assert image.shape == (1, 32, 48, 3) and fps is None
    assert frame_plan(17, 16.0, 40) == (17, 16.0) and frame_plan(17, 16.0, 1) == (1, 16.0)


# ----------------------------------------------------------------------------- backends by name


def test_backends_by_name_and_their_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown captioner backend 'gpt'.*world, openai, hf"):
        get_captioner("gpt")
    with pytest.raises(ValueError, match="unknown prompt expander backend 'gpt'"):
        get_expander("gpt")
    with pytest.raises(ValueError, match="needs base_url"):
        get_captioner("openai", model_name="m")
    with pytest.raises(ValueError, match="needs model_name"):
        get_expander("openai", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="hf backend needs model"):
        get_captioner("hf")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        get_expander("hf", model=tmp_path)
    with pytest.raises(FileNotFoundError, match="holds no world captioner"):
        get_captioner("world", model=tmp_path)
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        get_captioner("world", model=tmp_path / "nowhere")
    assert type(get_expander("world")).__name__ == "WorldExpander"
    expander = get_expander("openai", base_url="http://127.0.0.1:9/v1", model_name="m", timeout_s=3, concurrency=2)
    assert expander.client.endpoint.timeout_s == 3 and expander.client.endpoint.max_concurrency == 2
    captioner = get_captioner("openai", base_url="http://127.0.0.1:9/v1", model_name="m", num_frames=3)
    assert captioner.num_frames == 3

    (tmp_path / "captioner").mkdir()
    monkeypatch.setitem(sys.modules, "patchflow.text.world_captioner", None)  # as if the module were not built
    with pytest.raises(ValueError, match="world captioner .* is not part of this install"):
        get_captioner("world", model=tmp_path)


@pytest.fixture
def world_module(monkeypatch):
    """A stand-in for patchflow/text/world_captioner.py: records the folder it was given."""
    module = types.ModuleType("patchflow.text.world_captioner")
    module.loaded, module.rates = [], []

    class WithRate(Counting):
        def caption(self, frames, fps=None):  # told the frames' rate, as the real world captioner is
            module.rates.append(fps)
            return super().caption(frames)

    def load_world_captioner(folder):
        module.loaded.append(folder)
        return WithRate(prefix="world")

    module.load_world_captioner = load_world_captioner
    monkeypatch.setitem(sys.modules, "patchflow.text.world_captioner", module)
    return module


# ----------------------------------------------------------------------------- the command


def plain(text: str) -> str:
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).split())  # no colours; rich wraps long lines


def test_command_errors_are_clear(media, tmp_path):
    manifest = write_manifest(manifest_rows(media)[:1], tmp_path / "m.jsonl")
    cases = [
        (["data", "caption", str(tmp_path / "missing.jsonl"), "--backend", "hf", "--model", str(tmp_path)],
         "no such manifest"),
        (["data", "caption", str(manifest), "--backend", "gpt"], "unknown --backend 'gpt'"),
        (["data", "caption", str(manifest), "--backend", "hf"], "--backend hf needs --model DIR"),
        (["data", "caption", str(manifest), "--backend", "world"], "--backend world needs --model DIR"),
        (["data", "caption", str(manifest), "--backend", "openai", "--model-name", "m"], "needs --base-url"),
        (["data", "caption", str(manifest), "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"],
         "needs --model-name"),
        (["data", "caption", str(manifest), "--backend", "world", "--model", str(tmp_path)],
         "holds no world captioner"),
        (["data", "caption", str(manifest), "--backend", "hf", "--model", str(tmp_path / "nope")],
         "no such model folder"),
        (["data", "caption", str(manifest), "--backend", "hf", "--model", str(tmp_path), "--out", "x.txt"],
         "unknown manifest extension"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in plain(result.output), (args, result.output)
    assert read_manifest(manifest)[0]["text"] == "old caption 0"


def test_world_backend_through_the_command_sees_the_whole_clip(media, tmp_path, world_module):
    manifest = write_manifest(manifest_rows(media)[:2], tmp_path / "m.csv")
    model = tmp_path / "world-tiny"
    (model / "captioner").mkdir(parents=True)
    result = runner.invoke(app, ["data", "caption", str(manifest), "--backend", "world", "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert world_module.loaded == [model] and world_module.rates == [CLIP_FPS, CLIP_FPS]
    rows = read_manifest(manifest)
    assert [r["text"] for r in rows] == [f"world clip {k} in {CLIP_FRAMES} frames" for k in (0, 1)]
    assert {r[MODEL] for r in rows} == {"world:world-tiny"}


def test_the_trained_world_captioner_through_the_command(media, tmp_path):
    """The real world captioner module (untrained weights: the caption is arbitrary but must be its own)."""
    import torch

    from patchflow.config import CaptionerConfig
    from patchflow.text.world_captioner import WorldCaptioner, load_world_captioner
    from patchflow.text.world_captioner_model import CaptionNet

    model = tmp_path / "world-tiny"
    torch.manual_seed(0)
    WorldCaptioner(CaptionNet(CaptionerConfig(width=8, hidden=16))).save_pretrained(model / "captioner")
    manifest = write_manifest(manifest_rows(media)[:1], tmp_path / "m.jsonl")
    result = runner.invoke(app, ["data", "caption", str(manifest), "--backend", "world", "--model", str(model)])
    assert result.exit_code == 0, result.output
    (row,) = read_manifest(manifest)
    frames, fps = clip_frames(row, None)
    assert row["text"] == load_world_captioner(model).caption(frames, fps=fps) and row[MODEL] == "world:world-tiny"


class VisionChatServer:
    """POST /v1/chat/completions on loopback, answering by what the first image shows: clip `fail_clip` always
    gets a 500, clip `malformed_clip` a reply without choices, every other clip a caption naming it."""

    def __init__(self, fail_clip: int, malformed_clip: int):
        self.requests: list[dict] = []
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                images = [part["image_url"]["url"] for part in body["messages"][0]["content"]
                          if part["type"] == "image_url"]
                frames = [np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))) for url in images]
                clip = clip_of(frames[0])
                with server.lock:
                    server.requests.append({"clip": clip, "frames": [frame_of(f) for f in frames],
                                            "auth": self.headers.get("Authorization")})
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                if clip == fail_clip:
                    status, reply = 500, {"error": "the GPU is on fire"}
                elif clip == malformed_clip:
                    status, reply = 200, {"choices": []}
                else:
                    status, reply = 200, {"choices": [{"message": {"role": "assistant", "content":
                                                       f"A video of clip {clip}.\n"}, "finish_reason": "stop"}]}
                payload = json.dumps(reply).encode()
                threading.Event().wait(0.05)  # a little work, so that concurrent requests overlap
                with server.lock:
                    server.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_openai_backend_end_to_end(media, tmp_path, monkeypatch):
    monkeypatch.setenv("RECAPTION_TEST_KEY", SECRET)
    server = VisionChatServer(fail_clip=1, malformed_clip=3)
    manifest = write_manifest(manifest_rows(media), tmp_path / "manifest.parquet")
    try:
        result = runner.invoke(app, [
            "data", "caption", str(manifest), "--backend", "openai", "--base-url", server.base_url,
            "--model-name", "tiny-vlm", "--api-key-env", "RECAPTION_TEST_KEY", "--frames", "3",
            "--concurrency", "2", "--retries", "1", "--timeout", "5"])
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    said = plain(result.output)
    assert "4 captioned, 4 failed" in said and SECRET not in result.output

    rows = by_name(read_manifest(manifest))
    for k in (0, 2, 4, 5):
        assert rows[f"clip{k}.{'png' if k == 4 else 'mp4'}"]["text"] == f"A video of clip {k}."
    assert "HTTP 500" in rows["clip1.mp4"][ERROR] and "after 2 tries" in rows["clip1.mp4"][ERROR]
    assert "no choices" in rows["clip3.mp4"][ERROR] and rows["clip3.mp4"]["text"] == "old caption 3"
    assert rows["clip0.mp4"][MODEL] == "openai:tiny-vlm" and rows["clip0.mp4"][ORIGINAL] == "old caption 0"
    assert {r["path"].rsplit("/", 1)[-1] for r in read_manifest(failed_path(manifest))} == \
        BAD | {"clip1.mp4", "clip3.mp4"}

    asked = [r["clip"] for r in server.requests]
    assert asked.count(1) == 2 and asked.count(3) == 1  # a 500 is retried; a malformed reply is not
    assert sorted(set(asked)) == [0, 1, 2, 3, 4, 5]
    video = [r for r in server.requests if r["clip"] != 4]
    assert all(r["frames"] == [0, 8, 16] for r in video)  # --frames 3: first, middle and last
    assert all(r["auth"] == f"Bearer {SECRET}" for r in server.requests)
    assert server.most_in_flight == 2  # --concurrency, reached and never passed


def test_hf_backend_end_to_end(media, tmp_path):
    from test_hf_backends import build_tiny_vlm

    from patchflow.text.hf_backends import HFCaptioner

    model = tmp_path / "tiny-vlm"
    build_tiny_vlm(model)
    manifest = write_manifest(manifest_rows(media)[:2], tmp_path / "manifest.jsonl")
    result = runner.invoke(app, ["data", "caption", str(manifest), "--backend", "hf", "--model", str(model),
                                 "--frames", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    rows = read_manifest(manifest)
    direct = HFCaptioner(model, num_frames=2)  # greedy: the command's captions are the model's own
    for row in rows:
        expected = " ".join(direct.caption(clip_frames(row, 2)[0]).split())
        assert row[MODEL] == "hf:tiny-vlm" and row[ORIGINAL].startswith("old caption")
        assert expected and row["text"] == expected
