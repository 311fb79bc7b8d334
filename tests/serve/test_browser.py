"""The page in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium): type a
prompt, generate, wait for the video in the gallery, check that it plays, save a screenshot."""

import shutil
import threading
import time

import pytest
import uvicorn
from PIL import Image

from patchflow.serve import create_app

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[dev]'")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver "
           "(.ci/run installs them), then run pytest tests/serve/test_browser.py")


@pytest.fixture
def server_url(pipe, limits):
    """The app served by uvicorn on a free loopback port, in a thread."""
    server = uvicorn.Server(uvicorn.Config(create_app([pipe], limits), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,800",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_script_timeout(20)
    yield driver
    driver.quit()


def test_generate_from_the_page_and_play_it(server_url, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server_url)
    WebDriverWait(browser, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#mode option")) > 1)
    browser.find_element(By.ID, "prompt").send_keys("a red ball bounces around on navy")
    browser.find_element(By.ID, "size-1:1").click()
    browser.find_element(By.ID, "generate").click()

    figure = WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#gallery figure"))[0]
    assert "a red ball bounces around on navy" in figure.text and "32x32" in figure.text
    metadata = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const video = document.querySelector('#gallery video');
        const report = () => done({duration: video.duration, error: video.error && video.error.code,
                                   width: video.videoWidth});
        if (video.readyState >= 1) report();
        else { video.addEventListener('loadedmetadata', report); video.addEventListener('error', report); }
    """)
    assert metadata["error"] is None and metadata["duration"] > 0 and metadata["width"] == 32, metadata
    played = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const video = document.querySelector('#gallery video');
        video.play().then(() => setTimeout(() => done(video.currentTime), 400), (e) => done(String(e)));
    """)
    assert isinstance(played, float) and played > 0, played
    assert browser.find_element(By.ID, "error").is_displayed() is False

    shot = tmp_path / "page.png"
    browser.save_screenshot(str(shot))
    assert Image.open(shot).size[0] >= 1000
    print(f"screenshot: {shot}")
