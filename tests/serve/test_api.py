"""Every mode of the one mode table over HTTP, the outputs as real files, progress, the list, the schema and the
page."""

import io
import re
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from serve_helpers import STEPS, wait

from patchflow.pipeline import MODES
from patchflow.serve.limits import upload_fields

# mode -> (uploads by field: a media key, form fields, expected output frames). Lengths follow
# docs/generate.md for the debug model (r_t = 4): inputs a = 17 frames, b = 9 frames.
CASES = {
    "text-to-video": ({}, {"frames": 9}, 9),
    "text-to-image": ({}, {}, 1),
    "image-to-video": ({"image": "image"}, {"frames": 9}, 9),
    "loop": ({"image": "image"}, {"seconds": 1}, 9),  # 1 s at 8 fps snaps to 9 = 1 + 4 * 2
    "loop (video)": ({"video": "b"}, {"frames": 4}, 9 + 4),
    "extend forward": ({"video": "b"}, {"frames": 4}, 9 + 4),
    "extend backward": ({"video": "b"}, {"frames": 5}, 5 + 9),
    "video-to-video": ({"video": "a"}, {"strength": 0.5}, 17),
    "connect": ({"video": "a", "video2": "b"}, {"frames": 4}, 17 + 4 + 9),
}


def submit(client, media, mode, uploads, fields, **extra):
    files = {field: (f"{key}.bin", media[key]) for field, key in uploads.items()}  # names are not looked at
    data = {"prompt": "a red ball moves right", "mode": mode, "steps": STEPS, "width": 32, "height": 32,
            **fields, **extra}
    return client.post("/v1/videos", data={k: str(v) for k, v in data.items()}, files=files or None)


def decode(content: bytes) -> np.ndarray:
    with av.open(io.BytesIO(content)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_every_row_has_a_case():
    assert set(CASES) == set(MODES)
    for mode, (uploads, _, _) in CASES.items():
        assert set(uploads) == {name for name, _ in upload_fields(MODES[mode])}


@pytest.mark.parametrize("mode", list(CASES))
def test_a_mode_over_http(client, media, mode):
    uploads, fields, length = CASES[mode]
    answer = submit(client, media, mode, uploads, fields, seed=3)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/v1/videos/{answer.json()['id']}"
    job = wait(client, answer.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == {"step": STEPS, "steps": STEPS} and job["output"]["frames"] == length
    assert job["settings"]["seed"] == 3 and job["output"]["seed"] == 3
    content = client.get(job["content_url"])
    assert content.status_code == 200
    if length == 1:
        assert content.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(content.content)).size == (32, 32)
    else:
        assert content.headers["content-type"] == "video/mp4"
        assert decode(content.content).shape == (length, 32, 32, 3)


def test_an_expanded_prompt(client, media, pipe):
    """expand_prompt=true samples on the model's own expansion (the world's, seeded by the job) and says so."""
    job = wait(client, submit(client, media, "text-to-image", {}, {}, prompt="a red ball", expand_prompt="true",
                              seed=5).json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["prompt"] == "a red ball"
    assert job["output"]["prompt_used"] == pipe.expand("a red ball", 5)[0] != "a red ball"
    assert client.get("/v1/info").json()["expand_prompt"] is True


def test_gif_and_png_of_a_video(client, media):
    job = wait(client, submit(client, media, "text-to-video", {}, {"frames": 9}).json()["id"])
    gif = client.get(job["content_url"], params={"format": "gif"})
    assert gif.headers["content-type"] == "image/gif"
    with Image.open(io.BytesIO(gif.content)) as im:
        assert 1 < im.n_frames <= 9 and im.is_animated  # Pillow merges identical neighbours
    sheet = client.get(job["content_url"], params={"format": "png"})
    assert sheet.headers["content-type"] == "image/png" and Image.open(io.BytesIO(sheet.content)).width > 32
    bad = client.get(job["content_url"], params={"format": "webm"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("format:")


def test_an_image_job_has_no_mp4(client, media):
    job = wait(client, submit(client, media, "text-to-image", {}, {}).json()["id"])
    answer = client.get(job["content_url"], params={"format": "mp4"})
    assert answer.status_code == 422 and "single image; ask for format=png" in answer.json()["detail"]


def test_defaults_are_the_models_and_the_inputs(client, media, pipe):
    """No size, length or fps given: the input's size and fps, serve.default_seconds, the model's steps."""
    answer = client.post("/v1/videos", data={"prompt": "x", "mode": "extend forward", "steps": str(STEPS)},
                         files={"video": ("clip", media["b"])})
    settings = answer.json()["settings"]
    assert (settings["width"], settings["height"], settings["fps"]) == (32, 32, 8.0)
    assert settings["frames"] == 8  # 1 s at 8 fps of new footage: 4 * k
    text = client.post("/v1/videos", json={"prompt": "x"}).json()["settings"]  # JSON works without uploads
    assert text["steps"] == pipe.config.sample.steps and text["guidance"] == pipe.config.sample.guidance
    assert f"{text['width']}x{text['height']}" == pipe.config.world.sizes[0]


def test_the_list_is_newest_first(client, media):
    ids = [submit(client, media, "text-to-image", {}, {}).json()["id"] for _ in range(3)]
    for job_id in ids:
        wait(client, job_id)
    listed = client.get("/v1/videos").json()
    assert [j["id"] for j in listed["jobs"]][:3] == ids[::-1]
    assert listed["queue_size"] == 8 and listed["waiting"] == 0
    assert [j["id"] for j in client.get("/v1/videos", params={"limit": 1}).json()["jobs"]] == ids[-1:]
    assert [j["id"] for j in client.get("/v1/videos", params={"status": "succeeded"}).json()["jobs"]] == ids[::-1]
    assert client.get("/v1/videos", params={"status": "queued"}).json()["jobs"] == []
    assert client.get("/v1/videos", params={"status": "done"}).status_code == 422


def test_stored_files_have_generated_names(client, media, limits):
    answer = client.post("/v1/videos", data={"mode": "image-to-video", "frames": "9", "steps": "2"},
                         files={"image": ("../../etc/passwd.png", media["image"])})
    job = wait(client, answer.json()["id"])
    folder = Path(limits.outputs_dir) / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["image.png", "output.mp4"]


def test_the_schema_names_the_routes_and_fields(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/videos", "/v1/videos/{job_id}", "/v1/videos/{job_id}/content", "/v1/modes", "/v1/info"} <= set(
        schema["paths"])
    body = schema["paths"]["/v1/videos"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["mode"]["enum"] == list(MODES)
    assert {"prompt", "seconds", "seed", "strength", "expand_prompt", "image", "video", "video2"} <= set(
        body["properties"])
    assert set(schema["paths"]["/v1/videos/{job_id}"]) == {"get", "delete"}


def test_info_gives_valid_size_presets(client, pipe, limits):
    info = client.get("/v1/info").json()
    assert info["size_multiple"] == pipe.size_multiple and info["limits"]["max_width"] == limits.max_width
    for name, (w, h) in info["presets"].items():
        a, b = map(int, name.split(":"))
        assert w % pipe.size_multiple == 0 and h % pipe.size_multiple == 0 and w <= 64 and h <= 64, name
        assert abs(w / h / (a / b) - 1) < 0.2, (name, w, h)
    assert "outputs_dir" not in info["limits"] and "db_path" not in info["limits"]  # no server paths shown


def test_the_page_is_served_with_nothing_from_another_site(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="prompt"' in page.text and 'id="expand_prompt"' in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        answer = client.get(asset)
        assert answer.status_code == 200 and len(answer.text) > 500
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", answer.text), asset
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
