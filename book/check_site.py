"""Browser check of the built book: `make book-check` (python book/check_site.py).

Serves build/book/html on 127.0.0.1 and opens every page in headless Chromium (Debian's `chromium`),
driven over the Chrome DevTools Protocol (websocket-client).  A page fails when

* a JavaScript error is thrown or logged (Runtime.exceptionThrown, console.error, Log error
  entries);
* any request goes to another host than the local server (a CDN script, style, font or image: the
  book must work offline) or any local request fails / answers >= 400 (a missing figure, script or
  style);
* an <img> does not decode, or a notebook page shows fewer images than its notebook has PNG
  outputs;
* a formula is left unrendered by MathJax or MathJax reports a TeX error;
* an internal link points to a file that was not built, or to an #anchor that the target page
  lacks;
* the page is empty (less than 200 characters of text in its main area);
* the layout overflows, in any of three views of the page (LAYOUTS): a desktop window (1280x900), a
  phone (390x844, device scale factor 3, mobile viewport) and print (print media on a 720 px wide
  page, A4 less its margins).  On screen the page may not be wider than the viewport, nothing may
  stick out of the main column, and an element whose content is wider than its box (a code cell,
  an output, a table, a display formula) must scroll (overflow-x auto or scroll): clipped content
  (overflow hidden or clip) fails.  In print nothing may be wider than its box at all (a scroll bar
  does not print): book/_static/ntkbook.css wraps code and outputs in print.  Each failure names
  the view, the element (e.g. "code cell 12 (source) pre") and its longest line.

Screenshots of the top of every page are written to build/book-check/ (not committed): NAME.png
(desktop), NAME.phone.png and NAME.print.png, plus NAME.VIEW.overflow.png around the first
overflowing element of a view. The last line reads "book-check: N passed, M failed"; the exit
status is 1 when any page failed.
"""

import argparse
import base64
import functools
import html.parser
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import websocket  # websocket-client

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--window-size=1280,900",
]
SKIP_DIRS = {"_static", "_sources", "_images", "_modules"}
SAVE_CALL = re.compile(
    r"""\bsave\(\s*[^,()]+,\s*f?["']([^"']+)["']"""
)  # ntklib.plotting.save(fig, "NAME")

PAGE_PROBE = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) { }
  }
  const imgs = [...document.images];
  const decoded = await Promise.all(imgs.map(i => { i.loading = "eager";
      return i.decode().then(() => i.naturalWidth > 0, () => false); }));
  const main = document.querySelector("main#main-content, article, [role=main]") || document.body;
  const math = [...document.querySelectorAll(".math")];
  return {
    title: document.title,
    images: imgs.map((i, k) => ({src: i.getAttribute("src"), ok: decoded[k]})),
    text: (main.innerText || "").trim().length,
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    math: math.length,
    unrendered: math.filter(m => !m.querySelector("mjx-container") && m.tagName !== "MJX-CONTAINER")
                    .map(m => m.textContent.slice(0, 60)),
    mathErrors: [...document.querySelectorAll("mjx-merror")]
                  .map(e => e.getAttribute("data-mjx-error") || e.textContent),
    // $...\command...$ left as text outside code: a formula MathJax never saw
    rawTex: (() => {
      const out = [], walk = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        if (n.parentElement.closest("pre, code, script, style, .math, mjx-container, .highlight"))
          continue;
        const m = n.textContent.match(/\$[^$]*\\[A-Za-z]+[^$]*\$/);
        if (m) out.push(m[0].slice(0, 60));
      }
      return out;
    })(),
  };
})()
"""


# The views every page is checked in: device metrics (Emulation.setDeviceMetricsOverride) and media.
LAYOUTS = {
    "desktop": (dict(width=1280, height=900, deviceScaleFactor=1, mobile=False), "screen"),
    "phone": (dict(width=390, height=844, deviceScaleFactor=3, mobile=True), "screen"),
    "print": (dict(width=720, height=1000, deviceScaleFactor=1, mobile=False), "print"),
}

# Horizontal overflow of the main column, in one view.  `media` is "screen" or "print".
LAYOUT_PROBE = r"""
(async (media) => {
  // MathJax's invisible assistive MathML (clipped to nothing, for screen readers) is laid out by
  // Chromium's own MathML engine and may be wider than the visible formula: leave it out of the
  // measurement.
  const hide = document.createElement("style");
  hide.textContent = "mjx-assistive-mml { display: none !important; }";
  document.head.appendChild(hide);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  try {
  const main = document.querySelector("main#main-content") || document.body;
  const article = document.querySelector("article.bd-article") || main;
  const cells = [...document.querySelectorAll("div.cell")];
  const longest = el => (el.innerText || el.textContent || "").split("\n")
      .reduce((a, b) => b.trim().length > a.length ? b.trim() : a, "").slice(0, 80);
  const describe = el => {
    const tag = el.tagName.toLowerCase() + [...el.classList].slice(0, 2).map(c => "." + c).join("");
    const cell = el.closest("div.cell");
    let where;
    if (cell) where = `code cell ${cells.indexOf(cell) + 1} ` +
                      `(${el.closest(".cell_output, .output") ? "output" : "source"})`;
    else { const sec = el.closest("section[id]"); where = sec ? `section #${sec.id}` : "page"; }
    return `${where} ${tag}`;
  };
  const problems = [], marks = [];
  const add = (el, what) => {
    problems.push(`${describe(el)}: ${what}; longest line: ${JSON.stringify(longest(el))}`);
    marks.push(el);
  };
  const vw = document.documentElement.clientWidth, pageW = document.scrollingElement.scrollWidth;
  if (pageW > vw + 1)
    problems.push(`the page is ${pageW}px wide in a ${vw}px viewport (horizontal scrolling)`);
  if (article.scrollWidth > article.clientWidth + 1)
    problems.push(`the main column's content is ${article.scrollWidth}px wide in its ` +
                  `${article.clientWidth}px`);
  const edge = article.getBoundingClientRect().right;
  const reported = new Set();
  let scrollable = 0;
  const insideReported = el => {
    for (let a = el.parentElement; a && a !== article; a = a.parentElement)
      if (reported.has(a)) return true;
    return false;
  };
  const contained = el => {
    for (let a = el.parentElement; a && a !== article; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX; if (o !== "visible") return true;
    }
    return false;
  };
  for (const el of article.querySelectorAll("*")) {
    if (insideReported(el) || el.closest(".visually-hidden, .sr-only")) continue;
    const cs = getComputedStyle(el);
    const over = el.scrollWidth - el.clientWidth;
    // MathJax clips its own glyph parts (stretchy delimiters): inside a formula only the formula
    // box counts
    const mathPart = el.parentElement && el.parentElement.closest("mjx-container");
    if (el.clientWidth && !mathPart && over > 1 && cs.overflowX !== "visible") {
      const scrolls = cs.overflowX === "auto" || cs.overflowX === "scroll";
      if (media === "print") {
        add(el, `clipped in print: content ${el.scrollWidth}px wide in a ${el.clientWidth}px box`);
        reported.add(el); continue;
      }
      if (!scrolls) {
        add(el, `clipped (overflow-x: ${cs.overflowX}): content ${el.scrollWidth}px wide in a ` +
                `${el.clientWidth}px box`);
        reported.add(el); continue;
      }
      scrollable++;
    }
    const r = el.getBoundingClientRect();
    if (r.width && r.right > edge + 1 && !contained(el)) {
      add(el, `sticks out of the main column by ${Math.round(r.right - edge)}px`); reported.add(el);
    }
  }
  return {problems, scrollable, marked: marks.length ? (() => {
    const r = marks[0].getBoundingClientRect();
    return {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};
  })() : null};
  } finally { hide.remove(); }
})
"""


SEARCH_PROBE = r"""
(async () => {
  for (let k = 0; k < 100; k++) {
    const n = document.querySelectorAll("#search-results li, ul.search li").length;
    if (n > 0) return n;
    await new Promise(r => setTimeout(r, 100));
  }
  return 0;
})()
"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class IdCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "id" or (tag == "a" and k == "name"):
                self.ids.add(v)


@functools.lru_cache(maxsize=None)
def ids_of(path: Path) -> frozenset:
    p = IdCollector()
    p.feed(path.read_text(errors="replace"))
    return frozenset(p.ids)


class CDP:
    """A minimal Chrome DevTools Protocol session on one page target."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(
            ws_url, suppress_origin=True, timeout=60, enable_multithread=False
        )
        self.next_id = 0
        self.events = []

    def call(self, method, timeout=60.0, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        end = time.time() + timeout
        while time.time() < end:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
        raise TimeoutError(method)

    def _collect(self, seconds, poll, stop=None):
        """Record incoming events for up to `seconds`; return the first event named `stop`, if
        any."""
        end = time.time() + seconds
        self.ws.settimeout(poll)
        try:
            while time.time() < end:
                try:
                    msg = json.loads(self.ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue
                if "method" in msg:
                    self.events.append(msg)
                    if msg["method"] == stop:
                        return msg
        finally:
            self.ws.settimeout(60)
        return None

    def wait_event(self, name, timeout=30.0):
        for e in self.events:
            if e["method"] == name:
                return e
        msg = self._collect(timeout, 1.0, stop=name)
        if msg is None:
            raise TimeoutError(name)
        return msg

    def drain(self, seconds):
        """Collect events for a short while (late errors, late requests)."""
        self._collect(seconds, 0.1)

    def close(self):
        self.ws.close()


def find_chromium(explicit: str | None) -> str:
    for c in [
        explicit,
        os.environ.get("CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
    ]:
        if c and shutil.which(c):
            return shutil.which(c)
    sys.exit(
        "book-check: no Chromium found; install Debian's package: "
        "apt-get update && apt-get install -y chromium"
    )


def start_chromium(binary: str, profile: Path, log) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    port_file = profile / "DevToolsActivePort"
    end = time.time() + 60
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with status {proc.returncode} (see its log)")
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text().split()[0])
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("chromium did not open its DevTools port within 60 s")


def expected_images(html_dir: Path, page: str) -> tuple[int, int]:
    """(image outputs, figures saved by its code) of the notebook behind a notebook page ((0, 0) for
    others)."""
    if not page.startswith("notebooks/"):
        return 0, 0
    nb = html_dir.parent / "src" / Path(page).with_suffix(".ipynb")
    if not nb.exists():
        return 0, 0
    code = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    outputs = sum(
        1
        for c in code
        for o in c.get("outputs", [])
        if any(k in o.get("data", {}) for k in ("image/png", "image/jpeg", "image/svg+xml"))
    )
    src = lambda c: "".join(c["source"]) if isinstance(c["source"], list) else c["source"]  # noqa: E731
    saved = sum(len(SAVE_CALL.findall(src(c))) for c in code)
    return outputs, saved


def check_link(html_dir: Path, origin: str, page_url: str, href: str) -> str | None:
    """None if an internal link resolves to a built file (and its anchor), else the problem."""
    if not href.startswith(origin + "/"):
        return None  # external link (<a href>), mailto:, javascript: ... not followed
    parsed = urllib.parse.urlsplit(href)
    path = urllib.parse.unquote(parsed.path).lstrip("/")
    target = html_dir / path
    if path == "" or path.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return f"broken link to {path or '/'}"
    frag = urllib.parse.unquote(parsed.fragment)
    if frag and target.suffix == ".html" and frag not in ids_of(target):
        return f"link to missing anchor {path}#{frag}"
    return None


def check_page(
    cdp: CDP, html_dir: Path, origin: str, page: str, shots: Path, expected: tuple[int, int]
) -> tuple[list, dict]:
    cdp.events.clear()
    url = f"{origin}/{page}"
    search = page == "search.html"
    cdp.call("Page.navigate", url=url + ("?q=kernel" if search else ""))
    cdp.wait_event("Page.loadEventFired", timeout=60)
    probe = cdp.call(
        "Runtime.evaluate", expression=PAGE_PROBE, awaitPromise=True, returnByValue=True, timeout=90
    )
    if (
        search and "exceptionDetails" not in probe
    ):  # the search page is filled by JavaScript: wait for hits
        hits = cdp.call(
            "Runtime.evaluate",
            expression=SEARCH_PROBE,
            awaitPromise=True,
            returnByValue=True,
            timeout=60,
        )
        n_hits = hits.get("result", {}).get("value", 0)
    if "exceptionDetails" in probe:
        return [f"probe script failed: {probe['exceptionDetails'].get('text')}"], {}
    info = probe["result"]["value"]
    cdp.drain(0.3)
    problems = []
    for e in cdp.events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            desc = d.get("exception", {}).get("description") or d.get("text")
            problems.append(
                f"JavaScript error: {str(desc).splitlines()[0]} "
                f"({d.get('url', '')}:{d.get('lineNumber')})"
            )
        elif m == "Runtime.consoleAPICalled" and p.get("type") == "error":
            args = " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", [])
            )
            problems.append(f"console.error: {args[:200]}")
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            problems.append(
                f"browser error: {p['entry'].get('text', '')[:200]} {p['entry'].get('url', '')}"
            )
        elif m == "Network.requestWillBeSent":
            req = p["request"]["url"]
            if not (
                req.startswith(origin + "/") or req.split(":", 1)[0] in ("data", "blob", "about")
            ):
                problems.append(f"request to the network (must be offline): {req[:160]}")
        elif m == "Network.responseReceived" and p["response"].get("status", 200) >= 400:
            problems.append(f"HTTP {p['response']['status']} for {p['response']['url']}")
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            problems.append(f"failed to load ({p.get('errorText')}) request {p.get('requestId')}")
    if search:
        if not n_hits:
            problems.append("the search for 'kernel' found nothing")
        info["text"] = max(info["text"], 200 * bool(n_hits))
    bad_imgs = [i["src"] for i in info["images"] if not i["ok"]]
    if bad_imgs:
        problems.append(f"missing or broken figure(s): {', '.join(bad_imgs[:5])}")
    n_outputs, n_saved = expected
    if len(info["images"]) < n_outputs:
        problems.append(
            f"{len(info['images'])} images shown, the notebook has {n_outputs} image outputs"
        )
    if len(info["images"]) < n_saved:
        problems.append(
            f"missing figure(s): the notebook's code saves {n_saved} figures but the page shows "
            f"{len(info['images'])}: commit it executed with its inline figures "
            f"(call nk.plotting.setup(), which "
            f"turns on the inline backend even under MPLBACKEND=Agg)"
        )
    if info["unrendered"]:
        problems.append(
            f"{len(info['unrendered'])} formula(s) not rendered by MathJax, "
            f"e.g. {info['unrendered'][0]!r}"
        )
    if info["rawTex"]:
        problems.append(
            f"{len(info['rawTex'])} formula(s) left as raw TeX, e.g. {info['rawTex'][0]!r}"
        )
    if info["mathErrors"]:
        problems.append(f"MathJax TeX error(s): {info['mathErrors'][:3]}")
    if info["text"] < 200:
        problems.append(f"empty page ({info['text']} characters of text)")
    for href in sorted(set(info["links"])):
        err = check_link(html_dir, origin, url, href)
        if err:
            problems.append(err)
    stem = page.replace("/", "__").removesuffix(".html")
    info["scrollable"] = {}
    for view, (metrics, media) in LAYOUTS.items():
        problems += check_layout(cdp, view, metrics, media, shots / stem, info)
    set_view(cdp, *LAYOUTS["desktop"])
    # de-duplicate, keep order
    return list(dict.fromkeys(problems)), info


def set_view(cdp: CDP, metrics: dict, media: str) -> None:
    cdp.call("Emulation.setDeviceMetricsOverride", **metrics)
    cdp.call("Emulation.setEmulatedMedia", media="print" if media == "print" else "")


def check_layout(
    cdp: CDP, view: str, metrics: dict, media: str, stem: Path, info: dict
) -> list[str]:
    """Overflow problems of the loaded page in one view; screenshots stem[.view].png
    (+ .view.overflow.png)."""
    set_view(cdp, metrics, media)
    cdp.call("Runtime.evaluate", expression="window.scrollTo(0, 0)")
    res = cdp.call(
        "Runtime.evaluate",
        expression=f"{LAYOUT_PROBE}({json.dumps(media)})",
        awaitPromise=True,
        returnByValue=True,
        timeout=90,
    )
    if "exceptionDetails" in res:
        return [f"{view}: layout probe failed: {res['exceptionDetails'].get('text')}"]
    lay = res["result"]["value"]
    info["scrollable"][view] = lay["scrollable"]
    suffix = "" if view == "desktop" else f".{view}"
    shot = cdp.call("Page.captureScreenshot", format="png")
    stem.with_name(stem.name + suffix + ".png").write_bytes(base64.b64decode(shot["data"]))
    box = lay["marked"]
    if box:  # the first offending element, with some context around it
        clip = dict(
            x=max(0.0, box["x"] - 20),
            y=max(0.0, box["y"] - 40),
            width=min(max(box["w"], 300) + 40, 2000),
            height=min(max(box["h"], 100) + 80, 1200),
            scale=1,
        )
        shot = cdp.call(
            "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
        )
        stem.with_name(f"{stem.name}.{view}.overflow.png").write_bytes(
            base64.b64decode(shot["data"])
        )
    problems = [f"{view}: {p}" for p in lay["problems"][:8]]
    if len(lay["problems"]) > 8:
        problems.append(f"{view}: ... and {len(lay['problems']) - 8} more overflowing elements")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", default=str(ROOT / "build" / "book" / "html"))
    ap.add_argument("--screenshots", default=str(ROOT / "build" / "book-check"))
    ap.add_argument("--chromium", default=None, help="Chromium binary (default: chromium on PATH)")
    ap.add_argument(
        "pages", nargs="*", help="check only these pages (e.g. notebooks/02_ntk_limit.html)"
    )
    args = ap.parse_args()
    html_dir = Path(args.html).resolve()
    if not (html_dir / "index.html").is_file():
        sys.exit(f"book-check: {html_dir}/index.html not found; run `make book` first")
    shots = Path(args.screenshots).resolve()
    if not args.pages:
        shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True, exist_ok=True)
    pages = sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if not SKIP_DIRS & set(p.relative_to(html_dir).parts)
    )
    pages.remove("index.html")
    pages.insert(0, "index.html")
    if args.pages:
        unknown = sorted(set(args.pages) - set(pages))
        if unknown:
            sys.exit(f"book-check: no such page(s): {', '.join(unknown)}")
        pages = [p for p in pages if p in args.pages]

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(html_dir))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    binary = find_chromium(args.chromium)
    profile = Path(tempfile.mkdtemp(prefix="book-check-profile-"))
    log = open(shots / "chromium.log", "wb")
    proc = None
    t0 = time.time()
    failed = 0
    try:
        proc, port = start_chromium(binary, profile, log)
        targets = json.load(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30)
        )
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        cdp = CDP(ws_url)
        for domain in ("Page", "Runtime", "Network", "Log"):
            cdp.call(f"{domain}.enable")
        cdp.call("Network.setCacheDisabled", cacheDisabled=True)
        set_view(cdp, *LAYOUTS["desktop"])
        version = cdp.call(
            "Runtime.evaluate", expression="navigator.userAgent", returnByValue=True
        )["result"]["value"]
        m = re.search(r"Chrome/([\d.]+)", version)
        print(
            f"book-check: {len(pages)} pages of {html_dir} in headless Chromium "
            f"{m.group(1) if m else version}"
        )
        for page in pages:
            try:
                problems, info = check_page(
                    cdp, html_dir, origin, page, shots, expected_images(html_dir, page)
                )
            except (
                Exception
            ) as exc:  # a hung or crashed page is a failure of that page, not of the checker
                problems, info = [f"could not check the page: {exc!r}"], {}
            if problems:
                failed += 1
                print(f"FAIL {page}")
                for p in problems:
                    print(f"     - {p}")
            else:
                scroll = info.get("scrollable", {})
                print(
                    f"ok   {page}  ({len(info['images'])} images, {info['math']} formulas, "
                    f"{info['text']} characters, {len(set(info['links']))} links; "
                    f"scrolling boxes: desktop {scroll.get('desktop', 0)}, "
                    f"phone {scroll.get('phone', 0)})"
                )
        cdp.close()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"book-check: screenshots in {shots} ({time.time() - t0:.0f} s)")
    print(f"book-check: {len(pages) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
