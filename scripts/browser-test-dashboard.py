#!/usr/bin/env python3
"""The dashboard (SPEC section 9.1) in a real browser: headless Debian chromium driven by selenium, against a
real daemon holding the demo's sixteen days (sent over the socket by `selfheal demo`), served with a token file
so that the page is reached through HTTP Basic credentials, as a browser's prompt would give them.

Checks: the day's incident list and figures equal `selfheal incidents` / `selfheal stats --format json`, the
chart's table adds up to the day's actions, the timeline opens with Enter and closes with Escape, the range
picker changes the range shown, an event sent during the test shows up live within 2 s (as text: its markup is
not parsed), no console errors, and after a daemon restart the page says it is reconnecting and then is live
again by itself.

    scripts/browser-test-dashboard.py [path/to/selfheal]

Needs chromium, chromium-driver (apt-get install chromium chromium-driver) and selenium (pip install
selenium); fails, naming them, when one is missing. Exit status 0 when every check held.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MISSING = []
try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
except ImportError:
    MISSING.append("selenium (pip install selenium)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not CHROMIUM:
    MISSING.append("chromium (apt-get install chromium)")
if not DRIVER:
    MISSING.append("chromedriver (apt-get install chromium-driver)")
if MISSING:
    sys.exit("browser-test-dashboard: missing " + ", ".join(MISSING))

BINARY = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/debug/selfheal")
TOKEN = "browser-test-" + os.urandom(8).hex()
DAY = ["--since", "2025-11-25", "--until", "2025-11-26", "--tz", "UTC", "--as-of", "2025-11-26T00:00:00Z"]
FAILURES = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what, flush=True)
    if not condition:
        FAILURES.append(what)


def selfheal(*arguments):
    result = subprocess.run([BINARY, *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"browser-test-dashboard: selfheal {' '.join(arguments)} failed: {result.stderr.strip()}")
    return result.stdout


def cli_json(*arguments):
    return json.loads(selfheal(*arguments, "--data-dir", DATA, "--format", "json"))


def serve(port):
    """`selfheal serve` on the demo's store; returns the process and its port once it listens."""
    address_file = os.path.join(DATA, "http.address")
    if os.path.exists(address_file):
        os.remove(address_file)
    log = open(os.path.join(WORK, "daemon.log"), "a")
    process = subprocess.Popen(
        [BINARY, "serve", "--data-dir", DATA, "--http", f"127.0.0.1:{port}", "--http-token-file", TOKENS],
        stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(200):
        if os.path.exists(address_file) and open(address_file).read().endswith("\n"):
            return process, int(open(address_file).read().strip().rsplit(":", 1)[1])
        if process.poll() is not None:
            break
        time.sleep(0.05)
    sys.exit("browser-test-dashboard: the daemon did not start: " + open(os.path.join(WORK, "daemon.log")).read())


def wait_for(condition, seconds, what):
    """Polls `condition` until it is true or `seconds` passed; returns the seconds it took, or None."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if condition():
                took = time.monotonic() - started
                check(True, f"{what} ({took:.2f} s)")
                return took
        except Exception:  # the page is between two renderings
            pass
        time.sleep(0.05)
    check(False, f"{what} (waited {seconds} s)")
    return None


def figure(name):
    return browser.find_element(By.ID, f"fig-{name}")


def digits(text):
    return int("".join(c for c in text if c.isdigit()))


def figures_match(stats):
    shown = {name: digits(figure(name).text) for name in ["actions", "prevented", "resolved", "failed", "open", "expired", "events"]}
    wanted = {"actions": stats["actions"], "prevented": stats["prevented"]["total"], "events": stats["events"],
              **{name: stats["incidents"][name] for name in ["resolved", "failed", "open", "expired"]}}
    return shown == wanted, shown, wanted


def check_figures(stats, what):
    wait_for(lambda: figures_match(stats)[0], 10, f"{what}: the figures are shown")
    same, shown, wanted = figures_match(stats)
    check(same, f"{what}: the figures equal selfheal stats ({shown} vs {wanted})")
    rate = stats["success_rate"]
    check(figure("success").text == ("–" if rate is None else f"{rate * 100:.1f} %"),
          f"{what}: the success rate {figure('success').text!r} is selfheal's {rate}")
    check(figure("mttr").get_attribute("data-value") == str(stats["mttr_ms"]).replace("None", "null"),
          f"{what}: the MTTR is selfheal's {stats['mttr_ms']} ms")


def shown_ids(list_id):
    return [int(b.get_attribute("data-id")) for b in browser.find_elements(By.CSS_SELECTOR, f"#{list_id} button.incident")]


WORK = tempfile.mkdtemp(prefix="selfheal-browser-")
DATA = os.path.join(WORK, "demo")
TOKENS = os.path.join(WORK, "tokens")
with open(TOKENS, "w") as tokens:
    tokens.write(TOKEN + "\n")
started = time.monotonic()
selfheal("demo", "--dir", DATA)
daemon, port = serve(0)
options = webdriver.ChromeOptions()
options.binary_location = CHROMIUM
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US"]:
    options.add_argument(argument)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
os.environ["TZ"] = "UTC"  # the page shows times in the browser's zone; the CLI reads below are in UTC
browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
try:
    # The day of the users' scenario analysis, through Basic credentials (any user name, the token).
    browser.get(f"http://selfheal:{TOKEN}@127.0.0.1:{port}/#day=2025-11-25")
    day = cli_json("stats", *DAY)
    check_figures(day, "2025-11-25")
    incidents = cli_json("incidents", *DAY)
    wanted = sorted(i["id"] for i in incidents if i["state"] in ("open", "failed"))
    check(sorted(shown_ids("active")) == wanted and wanted, f"2025-11-25: the failed and open incidents {wanted} are listed")
    resolved = sorted((i for i in incidents if i["state"] == "resolved"), key=lambda i: i["opened_at"], reverse=True)
    check(shown_ids("recovered") == [i["id"] for i in resolved[:10]], "2025-11-25: the latest recovered incidents are listed")
    first = next(i for i in incidents if i["id"] == shown_ids("active")[0])
    card = browser.find_element(By.CSS_SELECTOR, f"#active button[data-id='{first['id']}']")
    check(first["title"] in card.text and first["peak_level"] in card.text, "an incident shows its title and peak level")
    rows = browser.find_elements(By.CSS_SELECTOR, "#chart-data tr")
    hours = [digits(r.find_elements(By.TAG_NAME, "td")[-1].get_attribute("textContent")) for r in rows[1:]]
    check(len(hours) == 24 and sum(hours) == day["actions"], f"the chart's 24 hours add up to the day's {day['actions']} actions")
    check(len(browser.find_elements(By.CSS_SELECTOR, "#chart svg rect")) > 0, "the chart draws bars")
    check(browser.find_element(By.CSS_SELECTOR, "#chart svg title").get_attribute("textContent").startswith("Actions per hour"),
          "the chart has a text alternative")
    services = browser.find_elements(By.CSS_SELECTOR, "#services tbody tr")
    for row in services:
        name, active, _, rate = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        figures = cli_json("stats", *DAY, "--service", name)
        expected = "–" if figures["success_rate"] is None else f"{figures['success_rate'] * 100:.1f} %"
        check(rate == expected, f"service {name}: success rate {rate} is selfheal's {figures['success_rate']}")
        check(int(active) == sum(1 for i in incidents if i["service"] == name and i["state"] in ("open", "failed")),
              f"service {name}: {active} failed or open incidents")
    check(len(services) > 0, f"{len(services)} services are listed")
    rejects = cli_json("rejects", "--since", "2025-11-25", "--until", "2025-11-26", "--tz", "UTC")
    check(len(browser.find_elements(By.CSS_SELECTOR, "#rejects li")) == min(10, len(rejects)),
          f"the day's rejects are listed ({len(rejects)})")

    # The timeline: keyboard only.
    card.send_keys(Keys.ENTER)
    dialog = browser.find_element(By.ID, "timeline")
    wait_for(lambda: dialog.get_attribute("open") is not None and dialog.get_attribute("data-id") == str(first["id"]), 5,
             "Enter opens the timeline")
    events = browser.find_elements(By.CSS_SELECTOR, "#timeline-events li")
    check(len(events) == first["event_count"], f"the timeline lists the incident's {first['event_count']} events")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(lambda: dialog.get_attribute("open") is None, 5, "Escape closes the timeline")
    check(browser.switch_to.active_element.get_attribute("data-id") == str(first["id"]), "the focus returns to the incident")

    # The range picker: the week (Monday 2025-11-24 to Monday 2025-12-01), then another day.
    Select(browser.find_element(By.ID, "range-kind")).select_by_value("week")
    wait_for(lambda: "2025-11-24 00:00 to 2025-12-01 00:00" in browser.find_element(By.ID, "range-text").text, 10,
             "the week is shown")
    check_figures(cli_json("stats", "--since", "2025-11-24", "--until", "2025-12-01", "--tz", "UTC",
                           "--as-of", "2025-12-01T00:00:00Z"), "the week of 2025-11-24")
    check(len(browser.find_elements(By.CSS_SELECTOR, "#chart-data tr")) == 8, "the week's chart has 7 days")
    browser.execute_script("location.hash = '#day=2025-11-20'")
    check_figures(cli_json("stats", "--since", "2025-11-20", "--until", "2025-11-21", "--tz", "UTC",
                           "--as-of", "2025-11-21T00:00:00Z"), "2025-11-20")

    # Live: the last 24 hours; an event sent now shows within 2 s, as text.
    Select(browser.find_element(By.ID, "range-kind")).select_by_value("live")
    wait_for(lambda: browser.find_element(By.ID, "range-text").text.startswith("The last 24 hours"), 10, "live is shown")
    wait_for(lambda: browser.find_element(By.ID, "connection").text == "live", 10, "the stream is connected")
    # One event and one line the daemon rejects, over the socket; their markup must stay text.
    markup = "<img src=x onerror=document.title=1>"
    lines = json.dumps({"service": "browser-test", "kind": "pool.critical", "component": "db-pool",
                        "message": markup + " pool at 97%", "attrs": {"used": 97, "max": 100}}) + "\n" \
        + json.dumps({"service": "browser-test", "kind": "pool.warnign", "message": markup}) + "\n"
    sent = subprocess.run([BINARY, "ingest", "--data-dir", DATA], input=lines, capture_output=True, text=True)
    check(sent.returncode == 1 and "rejected 1" in sent.stdout + sent.stderr, f"selfheal ingest: {sent.stdout.strip()}")
    wait_for(lambda: any("browser-test" in b.text for b in browser.find_elements(By.CSS_SELECTOR, "#active button")),
             2, "the event sent now shows up within 2 s")
    wait_for(lambda: "pool.warnign" in browser.find_element(By.ID, "rejects").text, 7,
             "the rejected line shows up (the page reloads its rejects at most every 5 s)")
    check(markup in browser.find_element(By.ID, "rejects").text, "the rejected line's raw text is shown as text")
    check(not browser.find_elements(By.CSS_SELECTOR, "main img") and browser.title == "selfheal dashboard",
          "markup sent by a service stays text")
    check_figures(cli_json("stats"), "the last 24 hours")

    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    check(not severe, f"no console errors ({severe})")

    # A daemon restart: the page says it is reconnecting, then is live again by itself.
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    wait_for(lambda: browser.find_element(By.ID, "connection").text == "reconnecting…", 5, "the page says it is reconnecting")
    daemon, _ = serve(port)
    wait_for(lambda: browser.find_element(By.ID, "connection").text == "live", 15, "the page is live again after the restart")
    selfheal("emit", "--data-dir", DATA, "--service", "after-restart", "--kind", "breaker.opened", "--component", "api")
    wait_for(lambda: any("after-restart" in b.text for b in browser.find_elements(By.CSS_SELECTOR, "#active button")), 2,
             "an event after the restart shows up within 2 s")
finally:
    browser.quit()
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    shutil.rmtree(WORK, ignore_errors=True)

print(f"browser-test-dashboard: {'FAILED ' + str(len(FAILURES)) + ' check(s)' if FAILURES else 'every check held'}"
      f" in {time.monotonic() - started:.1f} s")
sys.exit(1 if FAILURES else 0)
