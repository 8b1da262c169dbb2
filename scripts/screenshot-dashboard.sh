#!/usr/bin/env bash
# Screenshots of the dashboard on the demo's store (the day of the users' scenario analysis): 1280 and 390 px
# wide, light and dark, the whole page, into docs/dashboard{,-dark}-{1280,390}.png; and at 390 px with an
# incident's timeline open, docs/dashboard-timeline-390.png.
#   scripts/screenshot-dashboard.sh [path/to/selfheal]
# Needs chromium, chromium-driver (apt-get install chromium chromium-driver) and selenium (pip install selenium).
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$(realpath "${1:-.build/debug/selfheal}")"
[ -x "$binary" ] || { echo "no selfheal binary at $binary: run swift build first" >&2; exit 1; }
command -v chromium >/dev/null && command -v chromedriver >/dev/null \
    || { echo "chromium and chromedriver are missing: apt-get install chromium chromium-driver" >&2; exit 1; }
python3 -c "import selenium" 2>/dev/null || { echo "selenium is missing: pip install selenium" >&2; exit 1; }

work="$(mktemp -d)"
"$binary" demo --dir "$work/demo" --dashboard --http 127.0.0.1:0 > "$work/demo.out" &
demo=$!
trap 'kill -INT "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
    grep -q "until Ctrl-C" "$work/demo.out" && break
    kill -0 "$demo" 2>/dev/null || { cat "$work/demo.out" >&2; exit 1; }
    sleep 0.1
done
url="$(grep -o 'http://[^ ]*' "$work/demo.out" | head -1)"
[ -n "$url" ] || { cat "$work/demo.out" >&2; echo "the demo printed no URL" >&2; exit 1; }
mkdir -p docs
TZ=UTC python3 - "$url" <<'PYTHON'
import shutil, sys, time
from selenium import webdriver
from selenium.webdriver.common.by import By

url = sys.argv[1]
options = webdriver.ChromeOptions()
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars", "--lang=en-US"]:
    options.add_argument(argument)
browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))

def shoot(width, scheme, name, timeline=False):
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    browser.get("about:blank")
    browser.get(url)
    for _ in range(100):
        if browser.find_element(By.ID, "fig-actions").text not in ("", "–"):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    if timeline:
        (browser.find_elements(By.CSS_SELECTOR, "#active button[data-state=failed]") or browser.find_elements(By.CSS_SELECTOR, "#active button.incident"))[0].click()
        time.sleep(0.5)
    height = 900 if timeline else browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    time.sleep(0.3)
    browser.save_screenshot(f"docs/{name}.png")
    print(f"docs/{name}.png ({width} x {height})")

try:
    shoot(1280, "light", "dashboard-1280")
    shoot(390, "light", "dashboard-390")
    shoot(1280, "dark", "dashboard-dark-1280")
    shoot(390, "dark", "dashboard-dark-390")
    shoot(390, "light", "dashboard-timeline-390", timeline=True)
finally:
    browser.quit()
PYTHON
