"""The browser side of tests/browser/test_browser.py: headless Chromium
driven by Selenium against a running `mmirror web`, and the steps' runner.

Browser opens pages, fills forms and clicks buttons the way a person does
(no script of the page is needed: JavaScript is off for every page, so a
step that passes proves the page works without it). Nothing is downloaded
at run time: the driver's path is given to Selenium's Service, so Selenium
Manager is never asked for one. Only the test's own certificate is trusted
(--ignore-certificate-errors-spki-list with its key's SHA-256), every other
certificate error still fails.

Steps are functions registered with @step. run_steps() runs
them in the order they were defined, saves a screenshot NN-NAME.png after
each, NN-NAME-failed.png and NN-NAME-failed.html when one fails, and goes on
with the next step, so that one failure does not hide the others.
"""

import base64
import hashlib
import os
import subprocess
import sys
import time
import traceback
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

WINDOW = (1280, 900)
PAGE_TIMEOUT = 20


def spki_hash(cert_file):
    """Base64 SHA-256 of a PEM certificate's public key, as Chromium's
    --ignore-certificate-errors-spki-list wants it."""
    der = subprocess.run(
        ["sh", "-c", "openssl x509 -in \"$1\" -pubkey -noout | "
         "openssl pkey -pubin -outform der", "sh", cert_file],
        check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def xpath_literal(s):
    """s as an XPath 1.0 string literal (which has no escapes)."""
    if "'" not in s:
        return "'%s'" % s
    if '"' not in s:
        return '"%s"' % s
    return "concat(%s)" % ", \"'\", ".join("'%s'" % p for p in s.split("'"))


class Browser:
    """One headless Chromium, its profile in profile_dir."""

    def __init__(self, base_url, ca_file, profile_dir, log_dir,
                 chromium="/usr/bin/chromium",
                 chromedriver="/usr/bin/chromedriver"):
        self.base_url = base_url.rstrip("/")
        self.ca_file = ca_file
        url = urllib.parse.urlsplit(self.base_url)
        self.host, self.port = url.hostname, url.port
        self.https = url.scheme == "https"
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        args = ["--headless=new", "--disable-dev-shm-usage",
                "--window-size=%d,%d" % WINDOW, "--hide-scrollbars",
                "--user-data-dir=" + profile_dir, "--no-first-run",
                "--disable-gpu", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--lang=en-US"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        if self.https and ca_file:
            args.append("--ignore-certificate-errors-spki-list=" +
                        spki_hash(ca_file))
        for a in args:
            options.add_argument(a)
        # JavaScript off for every page: the pages must work without it
        options.add_experimental_option("prefs", {
            "profile.managed_default_content_settings.javascript": 2})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=chromedriver,
                          log_path=os.path.join(log_dir, "chromedriver.log"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(PAGE_TIMEOUT)

    def quit(self):
        self.driver.quit()

    # ---- where we are ----

    def path(self):
        """The path (and query) of the page shown."""
        url = urllib.parse.urlsplit(self.driver.current_url)
        return url.path + ("?" + url.query if url.query else "")

    def title(self):
        return self.driver.title

    def body_text(self):
        return self.find("body").text

    def source(self):
        return self.driver.page_source

    # ---- finding ----

    def find(self, css, scope=None):
        """The first element for css (in scope); fails the step when none."""
        try:
            return (scope or self.driver).find_element(By.CSS_SELECTOR, css)
        except NoSuchElementException:
            raise AssertionError("no element %r on %s" % (css, self.path()))

    def finds(self, css, scope=None):
        return (scope or self.driver).find_elements(By.CSS_SELECTOR, css)

    def find_xpath(self, xpath, what, scope=None):
        try:
            return (scope or self.driver).find_element(By.XPATH, xpath)
        except NoSuchElementException:
            raise AssertionError("no %s on %s" % (what, self.path()))

    def text(self, css, scope=None):
        return self.find(css, scope).text

    def button(self, text, scope=None, prefix=False):
        """The submit button (or input) labelled text (or starting with
        it) in scope."""
        t = xpath_literal(text)
        if prefix:
            cond = "starts-with(normalize-space(.), %s)" % t
            icond = "starts-with(normalize-space(@value), %s)" % t
        else:
            cond = "normalize-space(.) = %s" % t
            icond = "normalize-space(@value) = %s" % t
        xp = (".//button[%s] | .//input[(@type='submit' or @type='button')"
              " and %s]" % (cond, icond))
        return self.find_xpath(xp, "button %r" % text, scope)

    def link(self, text, scope=None):
        xp = ".//a[normalize-space(.) = %s]" % xpath_literal(text)
        return self.find_xpath(xp, "link %r" % text, scope)

    def row(self, cell_text, scope=None):
        """The table row with a cell (or a link in one) reading cell_text."""
        t = xpath_literal(cell_text)
        xp = (".//tr[td[normalize-space(.) = %s] or "
              "th[normalize-space(.) = %s]]" % (t, t))
        return self.find_xpath(xp, "table row of %r" % cell_text, scope)

    def form(self, action, hidden=None):
        """The form posting to action whose hidden fields have the values
        of the dict hidden (e.g. {"section": "log", "key": "level"})."""
        conds = ["@action = %s" % xpath_literal(action)]
        for name, value in (hidden or {}).items():
            conds.append(".//input[@name = %s and @value = %s]" %
                         (xpath_literal(name), xpath_literal(value)))
        xp = "//form[%s]" % " and ".join(conds)
        return self.find_xpath(xp, "form to %s with %r" % (action, hidden))

    # ---- doing ----

    def open(self, path):
        self.driver.get(self.base_url + path)

    def fill(self, name, value, scope=None):
        """Types value into the field name (a select: the option of that
        value or label)."""
        field = self.find("[name=%s]" % name, scope)
        if field.tag_name == "select":
            sel = Select(field)
            try:
                sel.select_by_value(value)
            except NoSuchElementException:
                sel.select_by_visible_text(value)
            return
        field.clear()
        if value:
            field.send_keys(value)

    def _click_and_wait(self, element):
        old = self.find("html")
        element.click()
        try:
            WebDriverWait(self.driver, PAGE_TIMEOUT).until(
                expected_conditions.staleness_of(old))
        except TimeoutException:
            raise AssertionError("no new page after the click on %s" %
                                 self.path())

    def click_button(self, text, scope=None, prefix=False):
        """Clicks the button labelled text and waits for the next page."""
        self._click_and_wait(self.button(text, scope, prefix))

    def click_link(self, text, scope=None):
        self._click_and_wait(self.link(text, scope))

    def submit(self, form, button_text):
        """Submits form by its button (as a person would)."""
        self.click_button(button_text, form)

    def screenshot(self, path):
        """The whole page as PNG, WINDOW's width wide and as tall as the
        page (the dashboard's chart is below the window's height)."""
        size = self.driver.execute_cdp_cmd(
            "Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "scale": 1,
                "width": max(size["width"], WINDOW[0]),
                "height": size["height"]}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip})
        with open(path, "wb") as out:
            out.write(base64.b64decode(shot["data"]))

    def step_screenshot(self, what):
        """A screenshot within a step: NN-NAME-what.png beside the
        step's own."""
        self.screenshot(os.path.join(self.shots_dir,
                                     "%s-%s.png" % (self.label, what)))

    # ---- beyond the page ----

    def cookie(self, name):
        """The browser's cookie name (a dict of its attributes), or None."""
        return self.driver.get_cookie(name)

    def console_errors(self):
        """The browser's SEVERE log entries since the last call, but the
        favicon the server does not have."""
        return [e["message"] for e in self.driver.get_log("browser")
                if e.get("level") == "SEVERE" and
                "/favicon.ico" not in e.get("message", "")]

    def javascript_is_off(self):
        """Does a page's own script stay unrun?"""
        self.driver.get("data:text/html,<title>before</title>"
                        "<script>document.title='ran'</script>")
        return self.driver.title == "before"


# ---- steps ----

STEPS = []


def step(name):
    """Registers f as the next step, named name."""
    def register(f):
        STEPS.append((name, f))
        return f
    return register


def wait_until(what, predicate, timeout=30, interval=0.5):
    """Calls predicate until it returns a true value (returned); fails
    the step with what after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("%s: not within %d s" % (what, timeout))
        time.sleep(interval)


def run_steps(browser, site, shots_dir, only=None):
    """Runs every step; returns (passed, failed) counts.  only:
    names of the steps to run (None: all); the others are not counted."""
    passed = failed = 0
    for n, (name, f) in enumerate(STEPS, 1):
        label = "%02d-%s" % (n, name)
        if only and name not in only:
            continue
        browser.shots_dir, browser.label = shots_dir, label
        start = time.monotonic()
        try:
            browser.console_errors()
            f(browser, site)
            errors = browser.console_errors()
            assert not errors, "the browser logged errors: %s" % errors
            browser.screenshot(os.path.join(shots_dir, label + ".png"))
            print("ok %s (%.1f s)" % (label, time.monotonic() - start))
            passed += 1
        except (AssertionError, WebDriverException, OSError,
                subprocess.SubprocessError) as e:
            failed += 1
            print("FAIL %s: %s" % (label, e))
            if not isinstance(e, AssertionError):
                traceback.print_exc(file=sys.stdout)
            try:
                browser.screenshot(os.path.join(shots_dir,
                                                label + "-failed.png"))
                with open(os.path.join(shots_dir, label + "-failed.html"),
                          "w", encoding="utf-8") as out:
                    out.write(browser.source())
                print("  on %s; screenshot %s-failed.png" %
                      (browser.path(), label))
            except WebDriverException:
                pass
        sys.stdout.flush()
    return passed, failed
