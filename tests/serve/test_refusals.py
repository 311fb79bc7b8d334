"""Bad requests are refused with 422 and one line that names the field or the limit; nothing is queued."""

import base64
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from patchflow.serve import create_app


def post(client, fields, files=None):
    return client.post("/v1/videos", data={k: str(v) for k, v in fields.items()}, files=files)


# (fields, uploads (field -> media key, name), the message's start or a part of it)
REFUSALS = {
    "oversize": ({"width": 128, "height": 32}, {}, "width 128 is over the limit serve.max_width=64"),
    "not a multiple": ({"width": 36, "height": 32}, {}, "size 36x32 is not a multiple of 8"),
    "too long": ({"seconds": 30}, {}, "seconds 30 is over the limit serve.max_seconds=4"),
    "too many frames": ({"frames": 33, "fps": 4}, {}, "frames 33 at 4 fps is 8.25 s, over the limit serve.max_seconds"),
    "too many steps": ({"steps": 9}, {}, "steps 9 is over the limit serve.max_steps=8"),
    "negative seconds": ({"seconds": -1}, {}, "seconds must be more than 0, got -1"),
    "seconds and frames": ({"seconds": 1, "frames": 9}, {}, "give seconds or frames, not both"),
    "not a number": ({"seconds": "soon"}, {}, "seconds must be a number, got 'soon'"),
    "bad frame count": ({"frames": 8}, {}, "frames 8: text-to-video needs 1 + 4 * k frames; nearest valid: 5 or 9"),
    "unknown mode": ({"mode": "sideways"}, {}, "mode 'sideways' is unknown; the modes are: text-to-video, "),
    "unknown field": ({"lenght": 3}, {}, "unknown field 'lenght'"),
    "strength without video-to-video": ({"strength": 0.5}, {}, "text-to-video takes no strength"),
    "missing upload": ({"mode": "image-to-video"}, {}, "image-to-video needs an upload 'image' (an image)"),
    "missing second video": ({"mode": "connect"}, {"video": ("a", "a.mp4")},
                             "connect needs an upload 'video2' (a video)"),
    "upload for a text mode": ({}, {"image": ("image", "x.png")}, "text-to-video takes no uploads; remove the upload"),
    "a text file named .mp4": ({"mode": "extend forward"}, {"video": ("text", "clip.mp4")},
                               "video: the file's content is not a PNG, JPEG or WebP image or an MP4"),
    "a video as the image": ({"mode": "image-to-video"}, {"image": ("a", "still.png")},
                             "image: the file's content is not a PNG, JPEG or WebP image (the file name"),
    "text where a file goes": ({"mode": "image-to-video", "image": "start.png"}, {},
                               "image must be a file upload (multipart/form-data), not text"),
    "expanding words the world does not know": ({"expand_prompt": "true"}, {}, "expand_prompt: cannot understand 'x'"),
    "no strength for video-to-video": ({"mode": "video-to-video"}, {"video": ("a", "a.mp4")},
                                       "video-to-video needs a strength in [0, 1]"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_with_a_clear_message(client, media, limits, case):
    fields, uploads, message = REFUSALS[case]
    files = {field: (name, media[key]) for field, (key, name) in uploads.items()} or None
    answer = post(client, {"prompt": "x", **fields}, files)
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["detail"]
    assert client.get("/v1/videos").json()["jobs"] == []


def test_an_upload_over_the_byte_limit(pipe, limits, media):
    small = replace(limits, max_upload_bytes=len(media["b"]) - 1)
    with TestClient(create_app([pipe], small)) as client:
        answer = post(client, {"mode": "extend forward"}, {"video": ("b.mp4", media["b"])})
        assert answer.status_code == 422
        assert answer.json()["detail"] == (f"video: the file is over the limit serve.max_upload_bytes="
                                           f"{len(media['b']) - 1}; send a smaller file")
        huge = client.post("/v1/videos", content=b"x", headers={"content-length": str(10**9),
                                                                "content-type": "multipart/form-data; boundary=x"})
        assert huge.status_code == 422 and "more than its uploads may be" in huge.json()["detail"]


def test_an_upload_over_the_frame_limit(pipe, limits, media):
    with TestClient(create_app([pipe], replace(limits, max_frames=16))) as client:
        answer = post(client, {"mode": "extend forward"}, {"video": ("a.mp4", media["a"])})
        assert answer.status_code == 422
        assert answer.json()["detail"].startswith("video: the video holds 17 frames, over the limit serve.max_frames=16")


def test_a_truncated_video_is_refused(client, media):
    answer = post(client, {"mode": "extend forward"}, {"video": ("a.mp4", media["a"][:200])})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("video: the file could not be")


def test_a_plan_over_the_frame_limit(pipe, limits, media):
    """16 new frames are within every field's limit, but with the input's 5 context frames the job generates 21."""
    with TestClient(create_app([pipe], replace(limits, max_frames=20))) as client:
        answer = post(client, {"mode": "extend forward", "frames": 16}, {"video": ("b.mp4", media["b"])})
        assert answer.status_code == 422
        assert answer.json()["detail"].startswith("this job would generate 21 frames, over the limit serve.max_frames=20")


def test_unknown_jobs_and_bad_queries(client):
    assert client.get("/v1/videos/0123456789abcdef0123456789abcdef").status_code == 404
    assert client.get("/v1/videos/../../etc/passwd").status_code == 404
    answer = client.get("/v1/videos", params={"limit": 0})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("limit: ")


def test_the_api_key_guards_every_route(pipe, limits):
    with TestClient(create_app([pipe], limits, api_key="s3cret")) as client:
        for path in ("/", "/v1/videos", "/v1/info", "/openapi.json", "/static/app.js"):
            answer = client.get(path)
            assert answer.status_code == 401 and "needs an API key" in answer.json()["detail"], path
            assert answer.headers["www-authenticate"].startswith("Basic")
        assert client.get("/v1/videos", headers={"Authorization": "Bearer wrong"}).status_code == 401
        basic = base64.b64encode(b"anyone:s3cret").decode()
        for headers in ({"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cret"}, {"Authorization": f"Basic {basic}"}):
            assert client.get("/v1/videos", headers=headers).status_code == 200, headers
