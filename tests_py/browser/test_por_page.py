"""The published proof-of-reserves site in Chromium: a real proof is included, each kind
of tampering is refused, and the page's verdict agrees with `eod por verify` on the same
proof files. Forged proofs are built here with the encoding of CONTRACT section 7."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from eod.por.encoding import leaf_hash, node_hash
from tests_py.conftest import run_eod


def _fold(proof: dict) -> tuple[str, int]:
    """The root a proof's own leaf and path lead to."""
    current = leaf_hash(proof["nonce"], proof["user_id"], proof["currency"], int(proof["units"]))
    total = int(proof["units"])
    for step in proof["path"]:
        if step["side"] == "left":
            current = node_hash(step["hash"], step["sum"], current, total)
        else:
            current = node_hash(current, total, step["hash"], step["sum"])
        total += step["sum"]
    return current, total


def _consistent(proof: dict) -> dict:
    """Make the proof agree with itself again: its leaf hash and claimed root recomputed."""
    proof["leaf_hash"] = leaf_hash(
        proof["nonce"], proof["user_id"], proof["currency"], int(proof["units"])
    )
    proof["root_hash"], proof["root_sum"] = _fold(proof)
    return proof


def _tampered(valid: dict) -> dict[str, tuple[dict | str, str]]:
    """Each kind of tampering: the proof (or raw text) and a word its refusal names."""
    cases: dict[str, tuple[dict | str, str]] = {}

    def case(name, reason, change):
        proof = copy.deepcopy(valid)
        cases[name] = (change(proof) or proof, reason)

    case(
        "more units, leaf not redone",
        "not the hash of the leaf",
        lambda p: p.update(units=p["units"] + 1),
    )
    # the attack that matters: a bigger balance with every hash redone, so only the
    # published root can catch it
    case(
        "more units, all redone",
        "published root",
        lambda p: _consistent(p.update(units=p["units"] * 2) or p),
    )
    case("sibling hash changed", "leads to root", lambda p: p["path"][0].update(hash="f" * 64))
    case(
        "sibling changed, root redone",
        "published root",
        lambda p: _consistent(p["path"][-1].update(hash="e" * 64) or p),
    )
    case("negative sibling sum", "negative", lambda p: p["path"][1].update(sum=-5))
    case("bad side", "side", lambda p: p["path"][2].update(side="middle"))
    case("step not an object", "must be an object", lambda p: p["path"].__setitem__(0, "x"))
    case("root sum inflated", "sums to", lambda p: p.update(root_sum=p["root_sum"] + 1))
    case("negative units", "negative", lambda p: _consistent(p.update(units=-1) or p))
    case(
        "another user's id",
        "not the hash of the leaf",
        lambda p: p.update(user_id=p["user_id"] + 1),
    )
    case("fractional units", "must be an integer", lambda p: p.update(units=1.5))
    case("path missing", "proof has no path", lambda p: p.__delitem__("path"))
    cases["not JSON"] = ('{"business_date": ', "not JSON")
    return cases


def _proof(env, day, user_id: int, currency: str) -> dict:
    out = run_eod(
        ["por", "prove", "--date", day.isoformat(), "--user", str(user_id), "--currency", currency],
        env,
    ).stdout
    return json.loads(out)


def _cli_accepts(env, path: Path) -> bool:
    return run_eod(["por", "verify", str(path)], env, check=False).returncode == 0


def _fragment(text: str) -> str:
    return "#proof=" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _verdict(driver) -> tuple[str, str]:
    WebDriverWait(driver, 20).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verdict")
    )
    return (
        driver.find_element(By.TAG_NAME, "body").get_attribute("data-verdict"),
        driver.find_element(By.ID, "verdict-reason").text,
    )


def _open(driver, page: Path, fragment: str = "") -> None:
    driver.get("about:blank")  # a new fragment on the same page would not reload it
    driver.get(page.as_uri() + fragment)


@pytest.fixture(scope="module")
def site(closed_exchange, tmp_path_factory):
    exchange, env = closed_exchange
    day = exchange.dates[-1]
    out = tmp_path_factory.mktemp("por-site")
    run_eod(["por", "publish", "--date", day.isoformat(), "--out", str(out)], env)
    return exchange, env, day, out


def test_index_lists_the_published_roots(site, browser, artifacts):
    exchange, _, day, out = site
    published = exchange.fetch(
        """select currency, root_hash, root_sum::text, leaf_count
           from marts.proof_of_reserves where business_date = %s order by 1""",
        (day,),
    )
    assert published, "the close published roots"
    _open(browser, out / "index.html")
    shown = []
    for row in browser.find_elements(By.CSS_SELECTOR, "table.roots tbody tr"):
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        shown.append((cells[0], cells[1], cells[3], int(cells[4])))
    assert shown == [(c, h, s, n) for c, h, s, n in published]
    assert day.isoformat() in browser.find_element(By.CSS_SELECTOR, ".date").text
    browser.save_screenshot(str(artifacts / "por-index.png"))


def test_a_real_proof_is_included(site, browser, artifacts, tmp_path):
    exchange, env, day, out = site
    # ETH's 18 decimals put balances far above 2^53 base units: the page must keep them exact
    user_id, units = exchange.fetch(
        """select user_id, trunc(total * 1e18)::numeric(78, 0)::text
           from marts.user_balance_snapshots
           where business_date = %s and currency = 'ETH' and total > 0
           order by total desc limit 1""",
        (day,),
    )[0]
    assert int(units) > 2**53
    proof = _proof(env, day, user_id, "ETH")
    text = json.dumps(proof, indent=2)
    (tmp_path / "proof.json").write_text(text)
    assert _cli_accepts(env, tmp_path / "proof.json")

    # through the URL fragment
    _open(browser, out / "verify.html", _fragment(text))
    verdict, reason = _verdict(browser)
    assert verdict == "included", reason
    headline = browser.find_element(By.ID, "verdict-headline").text
    assert headline == f"Included, with {units} units"
    assert f"User {user_id}'s ETH" in reason
    browser.save_screenshot(str(artifacts / "por-verify-included.png"))

    # pasted into the box
    _open(browser, out / "verify.html")
    box = browser.find_element(By.ID, "proof")
    browser.execute_script("arguments[0].value = arguments[1]", box, text)
    browser.find_element(By.ID, "verify").click()
    assert _verdict(browser)[0] == "included"

    # chosen as a file
    _open(browser, out / "verify.html")
    browser.find_element(By.ID, "proof-file").send_keys(str(tmp_path / "proof.json"))
    assert _verdict(browser)[0] == "included"

    # dropped on the page (a drop event carrying the file, as a desktop drop delivers it)
    _open(browser, out / "verify.html")
    browser.execute_script(
        """const data = new DataTransfer();
           data.items.add(new File([arguments[0]], "proof.json", {type: "application/json"}));
           document.getElementById("drop-zone").dispatchEvent(
               new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));""",
        text,
    )
    assert _verdict(browser)[0] == "included"


def test_tampered_proofs_are_refused_as_the_cli_refuses_them(site, browser, artifacts, tmp_path):
    exchange, env, day, out = site
    user_id = exchange.scalar(
        """select user_id from marts.user_balance_snapshots
           where business_date = %s and currency = 'BTC' and total > 0
           order by user_id limit 1""",
        (day,),
    )
    valid = _proof(env, day, user_id, "BTC")
    assert len(valid["path"]) >= 3
    earlier = _proof(env, exchange.dates[0], user_id, "BTC")
    cases = _tampered(valid)
    cases["another date's proof"] = (earlier, str(exchange.dates[-1]))

    disagreements = []
    for index, (name, (proof, word)) in enumerate(cases.items()):
        text = proof if isinstance(proof, str) else json.dumps(proof)
        path = tmp_path / f"case-{index}.json"
        path.write_text(text)
        cli = "included" if _cli_accepts(env, path) else "refused"
        _open(browser, out / "verify.html", _fragment(text))
        verdict, reason = _verdict(browser)
        if name == "another date's proof":
            # the CLI checks it against that date's own roots; this page holds D's only
            assert cli == "included"
            assert verdict == "refused" and word in reason, reason
            continue
        if (verdict, cli) != ("refused", "refused") or word not in reason:
            disagreements.append((name, verdict, cli, reason))
        if name == "more units, all redone":
            browser.save_screenshot(str(artifacts / "por-verify-refused.png"))
    assert disagreements == []
