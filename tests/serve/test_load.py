"""Load on loopback against a real `patchflow serve` process: 50 requests from 10 clients at once. Every request
either finishes or is refused with 429, none is lost, and the server's memory stays bounded."""

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from serve_helpers import ServerProcess

CLIENTS, PER_CLIENT, QUEUE = 10, 5, 8
MEMORY_BOUND = 300 * 2**20  # growth of the server's resident memory over the run


def one_client(url: str, media: dict, index: int) -> list[dict]:
    """Submit PER_CLIENT jobs as fast as possible (every other one with an upload), then poll the accepted ones."""
    records = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for k in range(PER_CLIENT):
            fields = {"prompt": f"client {index} job {k}", "steps": "2", "width": "32", "height": "32", "frames": "9"}
            files = None
            if k % 2:
                fields["mode"] = "image-to-video"
                files = {"image": ("start.png", media["image"])}
            start = time.monotonic()
            answer = http.post("/v1/videos", data=fields, files=files)
            records.append({"code": answer.status_code, "submit_s": time.monotonic() - start, "start": start,
                            "id": answer.json()["id"] if answer.status_code == 202 else None,
                            "detail": answer.json().get("detail") if answer.status_code != 202 else None})
        for record in records:
            while record["id"]:
                job = http.get(f"/v1/videos/{record['id']}").json()
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    record.update(status=job["status"], turnaround_s=time.monotonic() - record["start"])
                    break
                time.sleep(0.05)
    return records


@pytest.fixture
def server(model_dir, tmp_path):
    process = ServerProcess(model_dir, tmp_path, f"serve.queue_size={QUEUE}")
    yield process
    process.stop()


def test_fifty_requests_from_ten_clients(server, media):
    with httpx.Client(base_url=server.url, timeout=30) as http:  # one job first: the model's lazy setup is done
        warm = http.post("/v1/videos", data={"prompt": "warm up", "steps": "2", "width": "32", "height": "32",
                                             "frames": "9"}).json()["id"]
        while http.get(f"/v1/videos/{warm}").json()["status"] != "succeeded":
            time.sleep(0.05)
    baseline = server.rss_bytes()
    peak, sampling = [baseline], threading.Event()

    def sample():
        while not sampling.is_set():
            peak.append(server.rss_bytes())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        records = [r for rs in pool.map(lambda i: one_client(server.url, media, i), range(CLIENTS)) for r in rs]
    wall = time.monotonic() - start
    sampling.set()
    sampler.join()

    codes = [r["code"] for r in records]
    accepted = [r for r in records if r["code"] == 202]
    assert len(records) == CLIENTS * PER_CLIENT and set(codes) <= {202, 429}, codes
    assert all(r["status"] == "succeeded" for r in accepted), [r for r in accepted if r["status"] != "succeeded"]
    assert len(accepted) >= QUEUE and codes.count(429) > 0  # the bound was reached, and it held
    assert all(r["detail"].startswith("the queue is full") for r in records if r["code"] == 429)
    with httpx.Client(base_url=server.url) as http:  # none lost: every accepted job is listed, and nothing else
        listed = {j["id"] for j in http.get("/v1/videos", params={"limit": 500}).json()["jobs"]} - {warm}
    assert listed == {r["id"] for r in accepted}
    growth = max(peak) - baseline
    assert growth < MEMORY_BOUND, f"resident memory grew by {growth / 2**20:.0f} MiB"

    submit = sorted(r["submit_s"] for r in records)
    turnaround = sorted(r["turnaround_s"] for r in accepted)
    print(f"\nload: {len(records)} requests from {CLIENTS} clients in {wall:.1f} s: {len(accepted)} finished, "
          f"{codes.count(429)} refused (429), 0 lost; submit p50 {statistics.median(submit) * 1000:.0f} ms, "
          f"p95 {submit[int(0.95 * len(submit)) - 1] * 1000:.0f} ms; turnaround p50 "
          f"{statistics.median(turnaround):.2f} s, max {turnaround[-1]:.2f} s; "
          f"{len(accepted) / wall:.1f} jobs/s; RSS {baseline / 2**20:.0f} MiB -> peak {max(peak) / 2**20:.0f} MiB "
          f"(+{growth / 2**20:.0f} MiB)")
