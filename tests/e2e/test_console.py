"""The emulator's web console at /__mcapi/ui/ (docs/emulator.md, "The web console") in a real
browser: headless Chromium driven by Selenium logs in with the control token, registers a
domain, reads its TXT record off the page, publishes it in a real DNS server (unbound) and
verifies it with the page's button, releases a held message, mints an account whose name is
markup (shown as text), and watches the journal update itself. Every page the browser loads is
checked for console errors and kept as a screenshot in $MCAPI_ARTIFACTS (default
tests/artifacts/). Plain HTTP checks the CSRF tokens, the session cookie's attributes, and that
an API key never opens the console. Skipped only when chromium or chromedriver is missing."""
import datetime
import os
import re
import shutil
import tempfile
import time

import pytest
import requests

import dnsserver
import mc
from mc import Server
from msgapi import inject, make_internal, wait_for

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = os.environ.get("MCAPI_ARTIFACTS") or os.path.join(mc.ROOT, "tests", "artifacts")
WAIT = 60 if mc.SLOW else 20

if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("chromium and chromium-driver are not installed (make deps)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402  (python3-selenium comes with them)
from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException, StaleElementReferenceException, WebDriverException)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

LIST = "/api/gateway/get-hold-message-list"
CODE = "/api/domain/get-verification-code"
STATUS = "/api/domain/get-provision-status"
AUDIT = "/api/audit/get-audit-events"
ISO = "%Y-%m-%dT%H:%M:%S+0000"


@pytest.fixture(scope="module")
def dns():
    port = dnsserver.start_unbound(zones=("test.",))
    yield port
    dnsserver.stop_unbound(port)


@pytest.fixture(scope="module")
def server(dns):
    s = Server(smtp=True, args=["--dns-servers", "127.0.0.1:%d" % dns,
                                "--dns-timeout-ms", "3000"]).start()
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def token(server):
    deadline = time.monotonic() + 10  # written once mcapid listens
    while "control_token" not in server.creds and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.creds["control_token"]


@pytest.fixture(scope="module")
def client(server):
    return server.client()


@pytest.fixture(scope="module")
def driver():
    os.makedirs(ARTIFACTS, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="mcapi-chromium-")
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000", "--no-first-run", "--disable-sync",
              "--disable-background-networking", "--disable-component-update",
              "--disable-default-apps", "--user-data-dir=" + profile):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=o)
    d.set_page_load_timeout(WAIT)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def gone(element):
    """EC.staleness_of, also when Chromium answers the look at an element of the page being
    replaced with its inspector's "Node with given id does not belong to the document"
    (a WebDriverException, not StaleElementReferenceException: met under load)."""
    def check(_d):
        try:
            element.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
    return check


class Browser:
    """The driver, with every page checked for console errors and kept as a screenshot."""

    def __init__(self, driver, server):
        self.d = driver
        self.base = server.base + "/__mcapi/ui"
        self.n = 0

    def checked(self, name):
        errors = [e for e in self.d.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], "console errors on %s: %s" % (self.d.current_url, errors)
        try:
            self.d.switch_to.alert
            raise AssertionError("a script opened an alert on " + self.d.current_url)
        except NoAlertPresentException:
            pass
        self.n += 1
        self.d.save_screenshot(os.path.join(ARTIFACTS, "console-%02d-%s.png" % (self.n, name)))

    def open(self, path, name):
        self.d.get(self.base + path)
        self.checked(name)

    def submit(self, button, name):
        """Clicks a form's button and waits for the page the redirect leads to."""
        button.click()
        WebDriverWait(self.d, WAIT).until(gone(button))
        WebDriverWait(self.d, WAIT).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        self.checked(name)

    def flash(self):
        return self.d.find_element(By.ID, "flash").text


@pytest.fixture(scope="module")
def browser(driver, server, token):
    b = Browser(driver, server)
    # not logged in: every page leads to the login form
    b.open("/domains", "login")
    assert b.d.current_url.endswith("/__mcapi/ui/login")
    b.d.find_element(By.ID, "token").send_keys(token)
    b.submit(b.d.find_element(By.ID, "login"), "after-login")
    assert b.d.current_url.endswith("/__mcapi/ui/")
    return b


def test_every_page_loads_without_console_errors(browser, server):
    code = server.creds["account_code"]
    for path, name, title in (("/", "accounts", "Accounts"), ("/domains", "domains", "Domains"),
                              ("/held", "held", "Hold queue"), ("/messages", "messages", "Messages"),
                              ("/journal", "journal", "Journal"),
                              ("/faults", "faults", "Fault rules"),
                              ("/domains?account=" + code, "domains-one-account", "Domains")):
        browser.open(path, name)
        assert browser.d.find_element(By.TAG_NAME, "h1").text == title
    # the check itself sees errors: a page answered 404 is one
    browser.d.get(browser.base + "/no-such-page")
    assert any(e["level"] == "SEVERE" for e in browser.d.get_log("browser"))
    browser.open("/", "accounts-again")
    section = browser.d.find_element(By.CSS_SELECTOR, 'section[data-code="%s"]' % code)
    # the key is named by its start; the application key and the secret are never shown
    text = section.text
    creds = server.creds
    assert creds["app_id"] in text and creds["access_key"][:8] in text
    assert creds["access_key"] not in browser.d.page_source
    assert creds["app_key"] not in browser.d.page_source
    assert creds["secret_key"] not in browser.d.page_source


def test_domain_txt_record_and_verify_now(browser, server, client, dns):
    code = server.creds["account_code"]
    browser.open("/domains", "domains-before")
    Select(browser.d.find_element(By.NAME, "account")).select_by_value(code)
    browser.d.find_element(By.ID, "new-domain").send_keys("Console.TEST")
    browser.submit(browser.d.find_element(By.ID, "create-domain"), "domain-created")
    assert "'console.test' registered" in browser.flash()
    row = browser.d.find_element(By.CSS_SELECTOR, 'tr[data-domain="console.test"]')
    token = row.find_element(By.CSS_SELECTOR, "code.txt-value").text
    assert "console.test." in row.text and "TXT" in row.text
    # exactly what the Domain API gives
    r, b = client.call(CODE, [{"domain": "console.test"}])
    assert b["data"] == [{"domain": "console.test", "token": token}], b
    # not published yet: refused with the API's reason
    browser.submit(row.find_element(By.CSS_SELECTOR, "button.verify"), "verify-too-early")
    assert "not verified" in browser.flash()
    assert "err_domain_txt_record_not_found" in browser.flash()
    dnsserver.unbound_add_txt("console.test", token, port=dns)
    row = browser.d.find_element(By.CSS_SELECTOR, 'tr[data-domain="console.test"]')
    browser.submit(row.find_element(By.CSS_SELECTOR, "button.verify"), "verified")
    assert browser.flash() == "'console.test' is verified."
    row = browser.d.find_element(By.CSS_SELECTOR, 'tr[data-domain="console.test"]')
    assert row.find_element(By.CLASS_NAME, "state").text == "verified"
    r, b = client.call(STATUS, [{"domain": "console.test"}])
    assert b["data"][0]["status"] == "verified", b
    rows = audit(client, "Domain Verified")
    assert any("console.test" in e["eventInfo"] and e["user"] == "mcapid-console"
               for e in rows), rows


def audit(client, audit_type):
    now = datetime.datetime.now(datetime.timezone.utc)
    item = {"startDateTime": (now - datetime.timedelta(minutes=30)).strftime(ISO),
            "endDateTime": (now + datetime.timedelta(minutes=1)).strftime(ISO)}
    r, b = client.call(AUDIT, [item])
    return [e for e in b["data"] if e["auditType"] == audit_type]


def test_release_and_reject_held_messages(browser, server, client, tmp_path):
    make_internal(server, client, "held-console.test")
    for who in ("ann", "bob"):
        inject(server, tmp_path, "sender@outside.example", ["%s@held-console.test" % who],
               "held for %s" % who, test="hold")

    def held():
        r, b = client.call(LIST, [{"admin": True}])
        return {i["subject"]: i for i in b["data"] if i["subject"].startswith("held for ")}

    items = wait_for(lambda: len(held()) == 2 and held(), what="the held messages")
    ann, bob = items["held for ann"], items["held for bob"]
    browser.open("/held", "held-two")
    row = browser.d.find_element(By.CSS_SELECTOR, 'tr[data-id="%s"]' % ann["id"])
    assert row.find_element(By.CLASS_NAME, "subject").text == "held for ann"
    browser.submit(row.find_element(By.CSS_SELECTOR, "button.release"), "released")
    assert "released" in browser.flash() and ann["id"] in browser.flash()
    assert list(held()) == ["held for bob"]  # the API agrees
    assert not browser.d.find_elements(By.CSS_SELECTOR, 'tr[data-id="%s"]' % ann["id"])
    row = browser.d.find_element(By.CSS_SELECTOR, 'tr[data-id="%s"]' % bob["id"])
    row.find_element(By.NAME, "notify").click()
    browser.submit(row.find_element(By.CSS_SELECTOR, "button.reject"), "rejected")
    assert "rejected" in browser.flash() and bob["id"] in browser.flash()
    assert held() == {}
    assert browser.d.find_element(By.ID, "none").text == "No message is held."
    # done by the API's handlers: their audit rows, naming the console
    rows = audit(client, "Held Message Released")
    assert any(ann["id"] in e["eventInfo"] and "Application: mcapid console" in e["eventInfo"]
               and e["user"] == "mcapid-console" for e in rows), rows
    rows = audit(client, "Held Message Rejected")
    assert any(bob["id"] in e["eventInfo"] and "Sender Notified: True" in e["eventInfo"]
               for e in rows), rows
    browser.open("/messages", "messages-after-release")
    row = browser.d.find_element(By.CSS_SELECTOR, 'tr[data-id="%s"]' % ann["id"])
    assert row.find_element(By.CLASS_NAME, "status").text != "held"
    row = browser.d.find_element(By.CSS_SELECTOR, 'tr[data-id="%s"]' % bob["id"])
    assert row.find_element(By.CLASS_NAME, "status").text == "rejected"


def test_markup_is_shown_as_text(browser):
    name = "<script>alert(1)</script>&amp;"
    browser.open("/", "before-mint")
    browser.d.find_element(By.ID, "mint-name").send_keys(name)
    browser.submit(browser.d.find_element(By.ID, "mint"), "minted-markup-name")
    creds = browser.d.find_element(By.ID, "credentials")
    code = creds.find_element(By.CSS_SELECTOR, 'code[data-key="account_code"]').text
    section = browser.d.find_element(By.CSS_SELECTOR, 'section[data-code="%s"]' % code)
    assert section.find_element(By.TAG_NAME, "h2").text.startswith(name)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;" in browser.d.page_source
    assert not browser.d.find_elements(By.XPATH, "//main//script")
    # the credentials are shown once
    browser.open("/", "after-mint")
    assert not browser.d.find_elements(By.ID, "credentials")
    # a fault rule whose path is markup
    browser.open("/faults", "faults-before")
    browser.d.find_element(By.NAME, "path").send_keys("/api/<b>bold</b>")
    Select(browser.d.find_element(By.NAME, "status")).select_by_visible_text("503")
    browser.submit(browser.d.find_element(By.ID, "add-rule"), "rule-added")
    rule = browser.d.find_element(By.CSS_SELECTOR, "tr.rule")
    assert "/api/<b>bold</b>" in rule.text
    assert not browser.d.find_elements(By.XPATH, "//main//b")
    browser.submit(rule.find_element(By.TAG_NAME, "button"), "rule-deleted")
    assert not browser.d.find_elements(By.CSS_SELECTOR, "tr.rule")


def test_journal_updates_itself(browser, client):
    browser.open("/journal", "journal-live")
    client.call("/api/account/get-account")
    WebDriverWait(browser.d, WAIT).until(
        lambda d: "/api/account/get-account" in d.find_element(By.ID, "journal").text)
    WebDriverWait(browser.d, WAIT).until(
        lambda d: d.find_element(By.ID, "live").text == "live")
    browser.checked("journal-updated")


# ---- plain HTTP: the session, CSRF, who may enter ----

def session(server, token):
    s = requests.Session()
    r = s.post(server.base + "/__mcapi/ui/login", data={"token": token}, allow_redirects=False,
               timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == "/__mcapi/ui/"
    cookie = r.headers["Set-Cookie"]
    assert re.fullmatch(r"mcapi_console=[A-Za-z0-9_-]{43}; Path=/__mcapi/; HttpOnly; "
                        r"SameSite=Strict", cookie), cookie
    page = s.get(server.base + "/__mcapi/ui/faults", timeout=30).text
    csrf = re.search(r'name="csrf" value="([A-Za-z0-9_-]{43})"', page).group(1)
    return s, csrf


def test_every_action_needs_the_csrf_token(server, token):
    s, csrf = session(server, token)
    url = server.base + "/__mcapi/ui/faults"
    rule = {"path": "/api/csrf-check", "status": "503"}
    bearer = {"Authorization": "Bearer " + token}

    def rules():
        r = requests.get(server.base + "/__mcapi/faults", headers=bearer, timeout=30)
        return [x for x in r.json()["rules"] if x["path"] == "/api/csrf-check"]

    for data in (rule, dict(rule, csrf=""), dict(rule, csrf=csrf[:-1] + "A"
                                                  if csrf[-1] != "A" else csrf[:-1] + "B")):
        r = s.post(url, data=data, allow_redirects=False, timeout=30)
        assert r.status_code == 403, (data, r.status_code)
    # the control token alone reads pages but does not act; no session acts neither
    r = requests.post(url, data=dict(rule, csrf=csrf), headers=bearer, allow_redirects=False,
                      timeout=30)
    assert r.status_code == 403
    r = requests.post(url, data=dict(rule, csrf=csrf), allow_redirects=False, timeout=30)
    assert r.status_code == 403
    assert rules() == []
    r = s.post(url, data=dict(rule, csrf=csrf), allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == "/__mcapi/ui/faults"
    (made,) = rules()
    r = s.post(url + "/delete", data={"id": made["id"]}, allow_redirects=False, timeout=30)
    assert r.status_code == 403 and len(rules()) == 1
    r = s.post(url + "/delete", data={"id": made["id"], "csrf": csrf}, allow_redirects=False,
               timeout=30)
    assert r.status_code == 303 and rules() == []
    # after logging out the session is gone
    r = s.post(server.base + "/__mcapi/ui/logout", data={"csrf": csrf}, allow_redirects=False,
               timeout=30)
    assert r.status_code == 303 and "Max-Age=0" in r.headers["Set-Cookie"]
    s.cookies.set("mcapi_console", re.search(r"mcapi_console=([^;]*)",
                                             r.request.headers["Cookie"]).group(1),
                  path="/__mcapi/")
    r = s.get(server.base + "/__mcapi/ui/", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == "/__mcapi/ui/login"


def test_login_needs_the_control_token(server, token, client):
    r = requests.post(server.base + "/__mcapi/ui/login", data={"token": token + "x"},
                      allow_redirects=False, timeout=30)
    assert r.status_code == 401 and "Set-Cookie" not in r.headers
    r = requests.post(server.base + "/__mcapi/ui/login", data={"token": client.secret_key},
                      allow_redirects=False, timeout=30)
    assert r.status_code == 401 and "Set-Cookie" not in r.headers


def test_an_api_key_never_opens_the_console(server, token, client):
    for path in ("/__mcapi/ui/", "/__mcapi/ui/journal.json", "/__mcapi/ui/domains"):
        r = requests.get(server.base + path, headers=client.headers(path), timeout=30,
                         allow_redirects=False)
        assert r.status_code == 401, (path, r.status_code)
        assert "never an API key" in r.text
    # not even next to a valid session cookie
    s, csrf = session(server, token)
    r = s.get(server.base + "/__mcapi/ui/", headers=client.headers("/__mcapi/ui/"), timeout=30,
              allow_redirects=False)
    assert r.status_code == 401
    r = s.post(server.base + "/__mcapi/ui/faults", data={"csrf": csrf, "status": "503"},
               headers=client.headers("/__mcapi/ui/faults"), allow_redirects=False, timeout=30)
    assert r.status_code == 401
    # the control token as a Bearer reads the pages (curl), with the safety headers
    r = requests.get(server.base + "/__mcapi/ui/", headers={"Authorization": "Bearer " + token},
                     timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    r = requests.get(server.base + "/__mcapi/ui/", headers={"Authorization": "Bearer nope"},
                     timeout=30)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
