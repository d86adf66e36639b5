#!/usr/bin/python3
"""mmirror web in headless Chromium: the steps a person takes, each
checked on the page and, for a change, where it lands (the state database
through the command line, the configuration file, the backup store).

Run by tests/web-browser.sh, which starts the servers, mirrors 2001 and
2002 once and starts `mmirror web`; it passes everything through the
environment:

  WEB_URL, WEB_CERT             the server and its certificate (the only
                                one the browser accepts)
  WEB_ADMIN, WEB_ADMIN_PASSWORD an admin account
  WEB_SCREENSHOT_DIR            where NN-step.png go
  WEB_WORK_DIR                  the browser's profile and driver log
  WEB_CONFIG, MMIRROR_BIN       the configuration and the binary
  MMIRROR_FIXTURES, WEB_PROD_ENV, WEB_BACKUP_ENV
                                fixtures/ and the two stores' env files
  WEB_STEPS                     optional: the names of the steps to run

The pages' routes, field names and labels are in the UI table below, the
one place to change when the pages change them.
Exits 0 when no step failed, 1 otherwise.
"""

import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace as NS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Browser, run_steps, step,  # noqa: E402
                     wait_until)

# ---- what the pages look like: every selector in one place ----

UI = NS(
    login=NS(path="/login", form="form.login", name="name",
             password="password", button="Log in", error="p.attention",
             wrong="Wrong name or password"),
    session_cookie="mmirror_session",
    logout=NS(form="form.logout", button="Log out"),
    notice="p.notice",
    dashboard=NS(path="/", h1="Dashboard", health="section.health",
                 verdict="section.health p.verdict",
                 lag_rows="section.lag tbody tr",
                 runs_rows="section.runs tbody tr",
                 chart="section.chart svg.runs-chart",
                 chart_bars="rect.bar",
                 frozen="section.frozen",
                 frozen_rows="section.frozen tbody tr"),
    subscriptions=NS(path="/subscriptions",
                     add_action="/subscriptions/add",
                     add_fields=("id", "prod_user", "backup_user", "target",
                                 "folders"),
                     add_button="Add",
                     disable_action="/subscriptions/disable",
                     disable_button="Disable"),
    settings=NS(path="/settings", set_action="/settings/set",
                section="section", key="key", value="value",
                version="version", save_button="Set"),
    actions=NS(path="/actions", release_link="Release\u2026",
               release_path="/actions/release",
               release_button="Release %s: run sync --force-deletes"),
)

# the mailboxes of tests/web-browser.sh
MIRRORED = ("2001", "2002")
FROZEN = "2002"         # production's INBOX emptied: the guard freezes it
ADDED = "2003"          # on both stores, subscribed through the web


class Site:
    """The mirror the server shows: its binary, configuration and stores."""

    def __init__(self, env):
        self.config = env["WEB_CONFIG"]
        self.mmirror_bin = env["MMIRROR_BIN"]
        self.fixtures = env["MMIRROR_FIXTURES"]
        self.prod_env = env["WEB_PROD_ENV"]
        self.backup_env = env["WEB_BACKUP_ENV"]
        self.user = env["WEB_ADMIN"]
        self.password = env["WEB_ADMIN_PASSWORD"]

    def mmirror(self, *args, expect=(0,)):
        """Runs mmirror with the site's configuration; returns stdout.
        An exit status not in expect fails the step."""
        p = subprocess.run([self.mmirror_bin, "-c", self.config] + list(args),
                           capture_output=True, text=True, timeout=120)
        assert p.returncode in expect, (
            "mmirror %s exited %d: %s%s" % (" ".join(args), p.returncode,
                                            p.stdout, p.stderr))
        return p.stdout

    def mailboxes(self):
        """The subscriptions by id, as `mmirror mailbox list` has them."""
        out = json.loads(self.mmirror("--json", "mailbox", "list"))
        return {m["id"]: m for m in out["mailboxes"]}

    def config_text(self):
        with open(self.config, encoding="utf-8") as f:
            return f.read()

    def messages(self, env, user, folder="INBOX"):
        """How many messages folder of user holds on the store of env."""
        p = subprocess.run([os.path.join(self.fixtures, "imapdump.py"),
                            "dump", "--env", env, "--user", user,
                            "--folders", folder],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, "imapdump.py dump: %s" % p.stderr
        got = json.loads(p.stdout)[folder]
        return None if got is None else len(got)

    def empty_production(self, user):
        p = subprocess.run([os.path.join(self.fixtures, "corpus.py"), "empty",
                            "--env", self.prod_env, "--user", user],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, "corpus.py empty: %s" % p.stderr


def section_value(text, section, key):
    """The value of key in [section] of a configuration text, or None."""
    current = None
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"^\[([^\]]+)\]$", s)
        if m:
            current = m.group(1).strip()
            continue
        m = re.match(r"^([A-Za-z0-9_.]+)\s*=\s*(.*)$", s)
        if m and current == section and m.group(1) == key:
            return m.group(2)
    return None


# ---- helpers the steps share ----

def login(b, site, password=None):
    """Logs in through the form; the page it leads to is shown."""
    b.open(UI.login.path)
    form = b.find(UI.login.form)
    b.fill(UI.login.name, site.user, form)
    b.fill(UI.login.password, site.password if password is None else password,
           form)
    b.submit(form, UI.login.button)


def ensure_session(b, site):
    if b.cookie(UI.session_cookie) is None:
        login(b, site)


def open_page(b, site, path):
    """Opens path with a session; fails when it lands on the login."""
    ensure_session(b, site)
    b.open(path)
    assert b.path().split("?")[0] != UI.login.path, (
        "%s sent the browser to the login" % path)


def notice(b):
    found = b.finds(UI.notice)
    return found[0].text if found else ""


# ---- the steps (run in this order) ----

@step("no-javascript")
def no_javascript(b, site):
    assert b.javascript_is_off(), \
        "a page's script ran: the browser must run every step without it"
    # no session yet: every page goes to the login
    b.open("/")
    assert b.path() == UI.login.path, "/ without a session: %s" % b.path()


@step("login-page")
def login_page(b, site):
    b.open(UI.dashboard.path)
    assert b.path() == UI.login.path, "not sent to the login: %s" % b.path()
    assert b.title().startswith("Log in"), b.title()
    b.find(UI.login.form)
    # the stylesheet loaded and parsed under the Content-Security-Policy
    # (default-src 'self')
    sheets = b.driver.execute_script(
        "return Array.from(document.styleSheets).map("
        "s => [s.href, s.cssRules.length])")
    assert any(href and href.endswith("/static/mmirror.css") and n > 0
               for href, n in sheets), "no stylesheet applied: %s" % sheets


@step("wrong-password")
def wrong_password(b, site):
    login(b, site, password="not " + site.password)
    assert b.path() == UI.login.path, "a wrong password led to %s" % b.path()
    err = b.text(UI.login.error)
    assert UI.login.wrong in err, "the error reads %r" % err
    assert b.cookie(UI.session_cookie) is None, "a session cookie was set"
    # the browser logs the 403 of the refused login: expected here
    b.console_errors()


@step("login")
def login_step(b, site):
    login(b, site)
    assert b.path() == UI.dashboard.path, "the login led to %s" % b.path()
    c = b.cookie(UI.session_cookie)
    assert c is not None, "no session cookie"
    assert c["httpOnly"] and c["secure"] and c.get("sameSite") == "Strict", \
        "the session cookie is %r" % c
    out = b.button(UI.logout.button, b.find(UI.logout.form), prefix=True)
    assert site.user in out.text, "the logout button reads %r" % out.text


@step("dashboard")
def dashboard(b, site):
    open_page(b, site, UI.dashboard.path)
    assert b.text("h1") == UI.dashboard.h1, b.text("h1")
    verdict = b.text(UI.dashboard.verdict)
    assert verdict.startswith("Healthy: %d mailboxes" % len(MIRRORED)), \
        "the verdict reads %r" % verdict
    health = b.find(UI.dashboard.health)
    # the stylesheet's health band, drawn by the class alone
    assert health.value_of_css_property("border-left-width") == "4px", \
        "the health section is not styled"
    lag = [r.text for r in b.finds(UI.dashboard.lag_rows)]
    for mailbox in MIRRORED:
        assert any(r.split()[0] == mailbox for r in lag if r), \
            "%s is not in the lag table: %r" % (mailbox, lag)
    b.find("a[href='/history?mailbox=%s']" % MIRRORED[0])
    chart = b.find(UI.dashboard.chart)
    assert chart.is_displayed() and chart.size["width"] > 100, \
        "the chart is not shown: %r" % chart.size
    assert b.finds(UI.dashboard.chart_bars, chart), "the chart has no bar"
    runs = b.finds(UI.dashboard.runs_rows)
    assert runs and "ok" in runs[0].text.split(), \
        "the last run is not ok: %r" % [r.text for r in runs]


@step("dashboard-frozen")
def dashboard_frozen(b, site):
    """Production loses 2002's INBOX; the next sync holds the deletions
    back (exit 3) and the dashboard says so."""
    held = site.messages(site.backup_env, FROZEN)
    assert held and held > 0, "the backup holds nothing for %s" % FROZEN
    site.empty_production(FROZEN)
    site.mmirror("sync", expect=(3,))
    open_page(b, site, UI.dashboard.path)
    verdict = b.text(UI.dashboard.verdict)
    assert verdict.startswith("Needs attention") and "frozen" in verdict, \
        "the verdict reads %r" % verdict
    rows = [r.text for r in b.finds(UI.dashboard.frozen_rows)]
    assert any(r.startswith(FROZEN + " INBOX") and "--force-deletes" in r
               for r in rows), "no frozen row for %s: %r" % (FROZEN, rows)
    assert site.messages(site.backup_env, FROZEN) == held, \
        "the backup lost messages of the frozen folder"


# ---- subscriptions, settings, actions ----

@step("subscriptions-add")
def subscriptions_add(b, site):
    ui = UI.subscriptions
    assert ADDED not in site.mailboxes(), "%s is subscribed already" % ADDED
    open_page(b, site, ui.path)
    form = b.form(ui.add_action)
    values = {"id": ADDED, "prod_user": ADDED, "backup_user": ADDED,
              "target": "imap", "folders": ""}
    for name in ui.add_fields:
        if b.finds("[name=%s]" % name, form):
            b.fill(name, values[name], form)
    b.submit(form, ui.add_button)
    assert b.path().startswith(ui.path), "the add led to %s" % b.path()
    b.row(ADDED)
    got = site.mailboxes().get(ADDED)
    assert got is not None, "%s is not subscribed after the add" % ADDED
    assert got["prod_user"] == ADDED and got["enabled"], got


@step("subscriptions-disable")
def subscriptions_disable(b, site):
    ui = UI.subscriptions
    if ADDED not in site.mailboxes():
        raise AssertionError("%s is not subscribed (the add failed)" % ADDED)
    open_page(b, site, ui.path + "?q=" + ADDED)
    row = b.row(ADDED)
    b.click_button(ui.disable_button, row)
    assert not site.mailboxes()[ADDED]["enabled"], \
        "%s is still enabled after Disable" % ADDED
    assert ADDED in b.body_text(), "the page does not show %s" % ADDED


@step("settings-change")
def settings_change(b, site):
    ui = UI.settings
    before = site.config_text()
    assert section_value(before, "production", "timeout") == "30", before
    open_page(b, site, ui.path)
    form = b.form(ui.set_action, {ui.section: "production", ui.key: "timeout"})
    b.fill(ui.value, "45", form)
    b.submit(form, ui.save_button)
    assert "timeout" in notice(b), "no notice of the change: %r" % notice(b)
    after = site.config_text()
    assert section_value(after, "production", "timeout") == "45", \
        "[production] timeout is not 45 in the file:\n%s" % after
    assert section_value(after, "backup", "timeout") == "30", \
        "[backup] timeout changed too:\n%s" % after
    assert after.startswith(before.splitlines()[0]), \
        "the file's comment went:\n%s" % after
    with open(site.config + ".prev", encoding="utf-8") as f:
        assert f.read() == before, "FILE.prev is not the previous version"
    # the page shows the new value: in its field, or as text
    form = b.form(ui.set_action, {ui.section: "production", ui.key: "timeout"})
    field = b.find("[name=%s]" % ui.value, form)
    shown = (field.get_attribute("value") or "") + " " + form.text
    assert "45" in shown.split() or "45" in b.body_text().split(), \
        "the page does not show the new value: %r" % shown


@step("settings-refused")
def settings_refused(b, site):
    """A value the loader refuses: its message on the page, the file and
    FILE.prev as they were."""
    ui = UI.settings
    before = site.config_text()
    with open(site.config + ".prev", encoding="utf-8") as f:
        prev = f.read()
    open_page(b, site, ui.path)
    form = b.form(ui.set_action, {ui.section: "production", ui.key: "timeout"})
    b.fill(ui.value, "soon", form)
    b.submit(form, ui.save_button)
    # the loader's FILE:LINE: why
    page = b.body_text()
    where = re.escape(os.path.basename(site.config)) + r":\d+: .*timeout"
    assert re.search(where, page), \
        "the loader's message is not on the page:\n%s" % page
    assert site.config_text() == before, "the file changed"
    with open(site.config + ".prev", encoding="utf-8") as f:
        assert f.read() == prev, "FILE.prev changed"
    # the browser logs the refusal's 400: expected here
    b.console_errors()


@step("actions-release")
def actions_release(b, site):
    ui = UI.actions
    held = site.messages(site.backup_env, FROZEN)
    assert held and held > 0, "nothing frozen to release for %s" % FROZEN
    open_page(b, site, ui.path)
    row = b.row(FROZEN)
    link = b.link(ui.release_link, row)
    href = link.get_attribute("href")
    assert ui.release_path in href and "mailbox=" + FROZEN in href, href
    b.click_link(ui.release_link, row)
    # the confirmation shows what would be expunged, and expunges nothing
    page = b.body_text()
    assert re.search(r"expunge", page, re.I), \
        "the confirmation shows no plan:\n%s" % page
    assert str(held) in re.findall(r"\d+", page), \
        "the confirmation does not say %d messages:\n%s" % (held, page)
    assert site.messages(site.backup_env, FROZEN) == held, \
        "the confirmation page expunged already"
    b.step_screenshot("confirm")
    form = b.find("form[action='%s']" % ui.release_path)
    b.submit(form, ui.release_button % FROZEN)
    wait_until("%s's INBOX emptied on the backup" % FROZEN,
               lambda: site.messages(site.backup_env, FROZEN) == 0)
    open_page(b, site, UI.dashboard.path)
    wait_until("the dashboard without %s frozen" % FROZEN,
               lambda: (b.driver.refresh() or True) and not any(
                   r.text.startswith(FROZEN + " ")
                   for r in b.finds(UI.dashboard.frozen_rows)), timeout=10)


# ---- last ----

@step("logout")
def logout(b, site):
    open_page(b, site, UI.dashboard.path)
    b.click_button(UI.logout.button, b.find(UI.logout.form), prefix=True)
    assert b.path() == UI.login.path, "the logout led to %s" % b.path()
    assert b.cookie(UI.session_cookie) is None, "the cookie is still set"
    b.open(UI.dashboard.path)
    assert b.path() == UI.login.path, \
        "/ after the logout shows %s" % b.path()


def main():
    env = os.environ
    site = Site(env)
    work = env["WEB_WORK_DIR"]
    shots = env["WEB_SCREENSHOT_DIR"]
    only = env.get("WEB_STEPS", "").split() or None
    browser = Browser(env["WEB_URL"], env["WEB_CERT"],
                      os.path.join(work, "profile"), work,
                      chromium=env.get("CHROMIUM", "/usr/bin/chromium"),
                      chromedriver=env.get("CHROMEDRIVER",
                                           "/usr/bin/chromedriver"))
    try:
        passed, failed = run_steps(browser, site, shots, only)
    finally:
        browser.quit()
    print("test_browser: %d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
