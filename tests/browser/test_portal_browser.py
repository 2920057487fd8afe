"""End to end in headless Chromium: log in with a one-time password, see a release, request and approve
access, download an anonymized file, and be refused an original."""

from __future__ import annotations

import datetime as dt

from avanon.access.auth import totp


def _login(page, url: str, username: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse battery")
    page.fill("input[name=otp]", totp(secret, dt.datetime.now(dt.timezone.utc)))
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def test_request_approve_download_and_refusal(served, browser, shoot) -> None:  # type: ignore[no-untyped-def]
    url, gov, secrets, run = served["url"], served["gov"], served["secrets"], served["run"]
    page = browser.new_page()

    # A wrong one-time password is refused on the page.
    page.goto(f"{url}/login")
    page.fill("input[name=username]", "res")
    page.fill("input[name=password]", "correct horse battery")
    page.fill("input[name=otp]", "000000")
    page.click("button[type=submit]")
    assert "Invalid user name, password or one-time password." in page.inner_text("#login-error")

    _login(page, url, "res", secrets["researcher"])
    assert page.inner_text("#whoami") == "res (researcher)"
    catalogue = page.inner_text("#catalogue")
    assert "wave1" in catalogue and "p02/talk.wav" in catalogue and "p01/session.mp4" not in catalogue
    shoot(page, "catalogue-before-grant")

    page.goto(f"{url}/requests")
    page.fill("input[name=study]", "study1")
    page.select_option("select[name=tier]", "authorized")
    page.fill("textarea[name=purpose]", "Gesture coding for my thesis")
    page.click("#request-form button[type=submit]")
    assert "pending" in page.inner_text("#requests")

    assert browser.browser is not None
    steward = browser.browser.new_context()  # isolated cookies: the steward's own session
    stew_page = steward.new_page()
    _login(stew_page, url, "stew", secrets["steward"])
    stew_page.goto(f"{url}/requests")
    row = stew_page.locator("#requests tr", has_text="Gesture coding for my thesis")
    row.locator("input[name=days]").fill("30")
    row.locator("button", has_text="Approve").click()
    assert "approved by stew" in stew_page.inner_text("#requests")
    shoot(stew_page, "steward-approved")
    steward.close()

    page.goto(f"{url}/")
    assert "p01/session.mp4" in page.inner_text("#catalogue")
    page.click("text=p01/session.mp4")
    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename == "session.mp4"
    assert open(download.path(), "rb").read() == (run / "p01" / "session.mp4").read_bytes()
    shoot(page, "file-page")

    file_id = page.url.rstrip("/").split("/")[-1]
    response = page.goto(f"{url}/review/{file_id}/original")
    assert response.status == 403
    assert "may not review.original" in page.inner_text("#error-message")
    shoot(page, "original-refused")
    hidden = page.goto(f"{url}/files/{int(file_id) + 1000}")
    assert hidden.status == 404

    actions = [(e.actor, e.action, e.outcome) for e in gov.audit.entries()]
    assert ("res", "grant", "ok") not in actions and ("stew", "grant", "ok") in actions
    assert ("res", "download", "ok") in actions and ("res", "refusal", "refused") in actions
    assert gov.audit.verify() == []
    assert any("review.original" in f["detail"] for f in gov.flags(served["users"]["steward"]))
