"""A real browser for the report tests: headless Chromium (Debian's
``chromium`` package; ``.ci/run`` installs it), driven over the DevTools
protocol with ``websocket-client`` (already in the lock).

`open_page` loads a file, collects console errors and uncaught exceptions,
and reports each image's state: loaded, its natural size, and whether its
pixels vary (a blank image is one colour throughout, drawn on a canvas and
read back). `screenshot` saves a full-page PNG.
"""

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import websocket

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Runs in the page: each image's state, and which section ids exist.
PAGE_PROBE = """
(() => {
  const images = [...document.images].map((img) => {
    let varied = false;
    if (img.complete && img.naturalWidth > 0) {
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      const context = canvas.getContext("2d");
      context.drawImage(img, 0, 0);
      const data = context.getImageData(0, 0, canvas.width,
                                        canvas.height).data;
      for (let i = 4; i < data.length && !varied; i += 4) {
        varied = data[i] !== data[0] || data[i + 1] !== data[1] ||
                 data[i + 2] !== data[2] || data[i + 3] !== data[3];
      }
    }
    return {alt: img.alt, complete: img.complete, width: img.naturalWidth,
            height: img.naturalHeight, varied: varied};
  });
  const sections = [...document.querySelectorAll("section")].map(
      (s) => s.id);
  return JSON.stringify({images, sections, title: document.title,
                         text: document.body.innerText});
})()
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Page:
    """One DevTools websocket session on a page target."""

    def __init__(self, url):
        self.socket = websocket.create_connection(url, timeout=30)
        self.next_id, self.events = 0, []

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method,
                                     "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == method for e in self.events):
                return
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(f"no {method} within {timeout} s")

    def console_errors(self):
        """Console errors, uncaught exceptions and failed loads."""
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and \
                    params.get("type") in ("error", "assert"):
                errors.append(str(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                errors.append(str(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and \
                    params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return errors


@contextlib.contextmanager
def chromium():
    """A headless Chromium; yields a function opening a `Page` on a URL."""
    port = _free_port()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [CHROMIUM, "--headless=new", "--disable-gpu", "--no-sandbox",
         "--no-first-run", "--disable-extensions",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
         "--window-size=1200,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}/json"
        deadline = time.monotonic() + 30
        while True:
            try:
                targets = json.load(urllib.request.urlopen(endpoint))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        url = next(t["webSocketDebuggerUrl"] for t in targets
                   if t["type"] == "page")

        def open_page(address):
            page = Page(url)
            for domain in ("Page", "Runtime", "Log"):
                page.call(f"{domain}.enable")
            page.call("Page.navigate", url=address)
            page.wait_for("Page.loadEventFired")
            return page

        yield open_page
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def open_report(path, screenshot_to=None):
    """Loads ``path`` in headless Chromium; returns ``(probe, console
    errors)``; ``probe``: images, section ids, title and text. With
    ``screenshot_to``, saves a full-page PNG there."""
    with chromium() as open_page:
        page = open_page("file://" + os.path.abspath(path))
        probe = json.loads(page.call(
            "Runtime.evaluate", expression=PAGE_PROBE,
            returnByValue=True)["result"]["value"])
        if screenshot_to:
            metrics = page.call("Page.getLayoutMetrics")["cssContentSize"]
            shot = page.call(
                "Page.captureScreenshot", format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": metrics["width"],
                      "height": metrics["height"], "scale": 1})
            with open(screenshot_to, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        errors = page.console_errors()
        page.socket.close()
    return probe, errors
