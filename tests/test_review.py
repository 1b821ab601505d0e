"""Stage 08: the review state, its web API (no browser), and the page in a real browser."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.errors import SomclustError
from common.stage import read_record
from evaluate.review import ReviewState
from evaluate.review_app import create_app, make_review_server
from helpers import run_script, tree_hash

FILES = [f"{label}/{i}.png" for label in ("bag", "coat", "shoe") for i in range(4)]


@pytest.fixture
def run(tmp_path):
    """A finished run of 12 images in 3 clusters (cluster = true class), plus a secret file
    beside the raw folder that must never be served."""
    work, raw = tmp_path / "work", tmp_path / "work" / "raw_img"
    run_dir = work / "efficientnet_lite0"
    run_dir.mkdir(parents=True)
    for i, file in enumerate(FILES):
        (raw / file).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(raw / file), np.full((40, 40, 3), 20 * i, np.uint8))
    (tmp_path / "work" / "secret.png").write_bytes((raw / FILES[0]).read_bytes())
    (work / "labels_true.csv").write_text(
        "file,label,trainable\n" + "".join(f"{f},{f.split('/')[0]},0\n" for f in FILES))
    (work / "img_paths.txt").write_text("".join(f"{f}\n" for f in FILES))
    (run_dir / "clusters.csv").write_text(
        "file,som_node,cluster\n" + "".join(f"{f},{i},{i // 4}\n" for i, f in enumerate(FILES)))
    return work, run_dir, raw


def test_changes_undo_save_and_resume(run):
    work, run_dir, _ = run
    original = (run_dir / "clusters.csv").read_bytes()
    state = ReviewState(work, run_dir)
    assert [(c["id"], c["size"], c["labels"]) for c in state.clusters()] == \
        [(0, 4, [("bag", 4)]), (1, 4, [("coat", 4)]), (2, 4, [("shoe", 4)])]
    assert state.move(FILES[:2], 1) == 1
    assert state.move([FILES[2]], None) == 3                 # a new cluster
    state.move([FILES[3]], -1)                               # an outlier
    state.merge(2, 1)
    state.rename(1, "  coats   and shoes ")
    assert [(c["id"], c["size"], c["name"]) for c in state.clusters()] == \
        [(1, 10, "coats and shoes"), (3, 1, ""), (-1, 1, "")]
    assert state.members(1, offset=8, limit=5)["files"] == [
        {"file": FILES[10], "label": "shoe", "som_node": 10, "cluster": 1},
        {"file": FILES[11], "label": "shoe", "som_node": 11, "cluster": 1}]
    assert state.undo() and state.clusters()[0]["name"] == ""        # the rename taken back
    state.rename(1, "coats and shoes")
    with pytest.raises(SomclustError, match="not images of this run"):
        state.move(["../secret.png"], 1)
    with pytest.raises(SomclustError, match="no cluster 7"):
        state.merge(7, 1)
    saved = state.save()
    assert saved["clusters"] == 2 and saved["outliers"] == 1
    assert (run_dir / "clusters.csv").read_bytes() == original       # never overwritten
    with open(run_dir / "clusters_reviewed.csv", newline="") as handle:
        rows = {r["file"]: (int(r["cluster"]), r["name"]) for r in csv.DictReader(handle)}
    assert rows[FILES[0]] == (1, "coats and shoes") and rows[FILES[2]] == (3, "")
    assert rows[FILES[3]] == (-1, "")
    lines = (run_dir / "labels_pred_reviewed.txt").read_text().splitlines()
    assert lines == [str(rows[f][0]) for f in FILES]
    resumed = ReviewState(work, run_dir)                      # a later review starts from it
    assert resumed.clusters() == state.clusters()


def test_duplicate_groups_and_farthest_images(run):
    work, run_dir, raw = run
    (run_dir / "duplicates.csv").write_text(
        f"group,file,kind\n0,{FILES[0]},near\n0,{FILES[5]},near\n0,{FILES[9]},near\n"
        f"1,{FILES[2]},identical\n1,gone.png,identical\n")
    (run_dir / "outliers.csv").write_text(
        "file,cluster,distance,ratio_to_median\n"
        + "".join(f"{f},{i // 4},1.0,{3 - i / 10:.2f}\n" for i, f in enumerate(FILES)))
    state = ReviewState(work, run_dir)
    groups = state.duplicates()                      # group 1 lost a member: not a group now
    assert [[m["cluster"] for m in g["files"]] for g in groups] == [[0, 1, 2]]
    assert state.keep_one(FILES[5]) == 1             # the group joins the kept image's cluster
    assert [m["cluster"] for m in state.duplicates()[0]["files"]] == [1, 1, 1]
    with pytest.raises(SomclustError, match="no near-duplicate group"):
        state.keep_one(FILES[1])
    page = state.farthest(offset=1, limit=2)
    assert page["total"] == 12 and [(m["file"], m["ratio"]) for m in page["files"]] == \
        [(FILES[1], 2.9), (FILES[2], 2.8)]
    client = create_app(state, raw).test_client()
    assert client.get("/api/duplicates").get_json()[0]["group"] == 0
    assert client.get("/api/farthest?limit=1").get_json()["files"][0]["file"] == FILES[0]
    assert client.post("/api/keep", json={"file": FILES[0]}).get_json() == {"cluster": 1}
    assert client.post("/api/keep", json={"file": "nope"}).status_code == 400


def test_api_changes_the_state_and_refuses_paths_outside_the_run(run):
    work, run_dir, raw = run
    client = create_app(ReviewState(work, run_dir), raw).test_client()
    assert b"somclust review" in client.get("/").data
    assert [c["id"] for c in client.get("/api/clusters").get_json()] == [0, 1, 2]
    page = client.get("/api/clusters/0?offset=1&limit=2").get_json()
    assert page["total"] == 4 and [m["file"] for m in page["files"]] == FILES[1:3]
    thumb = client.get("/thumb", query_string={"file": FILES[5]})
    assert thumb.status_code == 200 and thumb.data.startswith(b"\x89PNG")
    for bad in ("../secret.png", str(raw.parent / "secret.png"), "bag/../../secret.png",
                "bag/none.png", "", "%2e%2e/secret.png"):
        assert client.get("/thumb", query_string={"file": bad}).status_code == 404, bad
    assert client.get("/thumb?file=../secret.png").status_code == 404
    assert client.post("/api/move", json={"files": FILES[:1], "target": "new"}).get_json() == \
        {"cluster": 3}
    assert client.post("/api/merge", json={"source": 2, "target": 0}).status_code == 200
    assert client.post("/api/rename", json={"cluster": 0, "name": "bags"}).status_code == 200
    refused = client.post("/api/move", json={"files": ["/etc/passwd"], "target": 0})
    assert refused.status_code == 400 and "not images of this run" in refused.get_json()["error"]
    assert client.post("/api/merge", data="not json").status_code == 400
    assert client.post("/api/undo").get_json() == {"undone": True}
    assert client.post("/api/save").get_json()["clusters"] == 3


def test_token_guards_every_request(run):
    work, run_dir, raw = run
    client = create_app(ReviewState(work, run_dir), raw, token="s3cret").test_client()
    assert client.get("/").status_code == 403
    assert client.get("/api/clusters?token=wrong").status_code == 403
    assert client.post("/api/save").status_code == 403
    assert client.get("/api/clusters?token=s3cret").status_code == 200
    assert client.get("/api/clusters", headers={"X-Somclust-Token": "s3cret"}).status_code == 200


def click_clear_of_the_bar(browser, element) -> None:
    """Click ``element`` scrolled to the middle of the window: at the top, the sticky bar can
    cover it after the page re-renders, and the click would land on the bar."""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def assert_scrolls_land_below_the_bar(browser, element) -> None:
    """Scroll ``element`` up to the top edge of the window, as an in-page jump or a browser
    that brings keyboard focus to the edge does: the page's scroll padding leaves it below the
    sticky bar, not under it."""
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    above = browser.execute_script("return arguments[0].getBoundingClientRect().bottom", element)
    assert above < 0, "the element must start above the window for the check to mean anything"
    top, bar = browser.execute_script(
        "arguments[0].scrollIntoView({block: 'start'}); return [arguments[0]"
        ".getBoundingClientRect().top, document.getElementById('bar').getBoundingClientRect()"
        ".bottom]", element)
    assert top >= bar, f"the element's top {top} is under the bar (bottom {bar})"


def test_review_in_a_real_browser_then_scored_by_stage_05(tiny_run, browser, tmp_path):
    """Move two images, merge two clusters, rename one, save, reload: the page and
    clusters_reviewed.csv hold it; stage 05 scores the reviewed clusters beside the original."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    work = tmp_path / "work"                        # a copy: the shared tiny run stays as it is
    shutil.copytree(tiny_run.work, work)
    run_dir = work / "efficientnet_lite0"
    clusters = ReviewState(work, run_dir).clusters()
    source, target, merged = clusters[0]["id"], clusters[1]["id"], clusters[2]["id"]
    by_cluster = {}
    for row in csv.DictReader(open(run_dir / "clusters.csv", newline="")):
        by_cluster.setdefault(int(row["cluster"]), []).append(row["file"])
    twins = [by_cluster[clusters[3]["id"]][-1], by_cluster[clusters[4]["id"]][-1]]
    (run_dir / "duplicates.csv").write_text(f"group,file,kind\n0,{twins[0]},near\n"
                                            f"0,{twins[1]},near\n")
    state = ReviewState(work, run_dir)
    server = make_review_server(create_app(state, work / "raw_img"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    wait = WebDriverWait(browser, 20)
    try:
        browser.get(f"http://127.0.0.1:{server.server_port}/")
        wait.until(lambda d: d.find_element(By.ID, "status").text == "ready")
        assert_scrolls_land_below_the_bar(
            browser, browser.find_elements(By.CSS_SELECTOR, "section .rename")[1])
        thumbs = wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, f"#cluster-{source} .thumb") or None)
        moved = [t.get_attribute("data-file") for t in thumbs[:2]]
        grid = browser.find_element(By.CSS_SELECTOR, f"#cluster-{source} .grid")
        ActionChains(browser).move_to_element_with_offset(thumbs[0], -60, -2).click_and_hold() \
            .move_to_element_with_offset(thumbs[1], 0, 0).release().perform()   # box select
        assert browser.find_element(By.ID, "selected-count").text == "2 selected", grid.text
        thumbs[0].click()                                # click toggles: deselect, select
        thumbs[0].click()
        assert browser.find_element(By.ID, "selected-count").text == "2 selected"
        Select(browser.find_element(By.ID, "move-target")).select_by_value(str(target))
        browser.find_element(By.ID, "move").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("moved 2"))

        section = browser.find_element(By.ID, f"cluster-{merged}")
        Select(section.find_element(By.CLASS_NAME, "merge-target")).select_by_value(str(target))
        click_clear_of_the_bar(browser, section.find_element(By.CLASS_NAME, "merge"))
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("merged"))
        assert not browser.find_elements(By.ID, f"cluster-{merged}")

        section = browser.find_element(By.ID, f"cluster-{target}")
        section.find_element(By.CLASS_NAME, "name").send_keys("reviewed group")
        click_clear_of_the_bar(browser, section.find_element(By.CLASS_NAME, "rename"))
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("renamed"))
        browser.find_element(By.ID, "save").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("saved"))

        browser.refresh()
        wait.until(lambda d: d.find_element(By.ID, "status").text == "ready")
        title = browser.find_element(By.CSS_SELECTOR, f"#cluster-{target} h2").text
        assert title.startswith(f"cluster {target}: reviewed group")
        browser.find_element(By.ID, "tab-farthest").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#clusters .thumb")) == 60)
        browser.find_element(By.ID, "tab-duplicates").click()
        keep = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".duplicate-group .keep"))
        keep[1].click()                               # the group joins its 2nd image's cluster
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("group 0 put"))
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        server.shutdown()
        server.server_close()
    with open(run_dir / "clusters_reviewed.csv", newline="") as handle:
        rows = {r["file"]: (int(r["cluster"]), r["name"]) for r in csv.DictReader(handle)}
    assert all(rows[f] == (target, "reviewed group") for f in moved)
    assert not any(cluster == merged for cluster, _ in rows.values())
    assert state.cluster_of[twins[0]] == state.cluster_of[twins[1]] == clusters[4]["id"]
    assert (run_dir / "clusters.csv").read_bytes() == (tiny_run.run_dir / "clusters.csv").read_bytes()
    assert tree_hash(work / "raw_img") == tiny_run.raw_hash

    scored = run_script("05_evaluate.py", work, "--force").stdout
    assert "reviewed (08_review.py)" in scored


def _start_review(work: Path, *flags: str):
    """`somclust review --port 0 FLAGS` in the background; (process, URL it printed)."""
    import os
    import re
    import signal
    import subprocess
    import sys

    from helpers import ROOT, script_env

    # Ctrl-C (SIGINT) stops it; a test run started in the background of a shell inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt: the child gets the default back
    process = subprocess.Popen([sys.executable, "-m", "somclust", "review", "--port", "0", *flags],
                               cwd=ROOT, env=script_env(work), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    line = process.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    assert match, line + process.stderr.read() if process.poll() is not None else line
    assert os.path.isdir(work)
    return process, match.group(1)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_review_command_serves_the_run_and_stops_cleanly(tiny_run, host):
    import json
    import signal
    import urllib.error
    import urllib.request

    process, url = _start_review(tiny_run.work, "--host", host)
    try:
        local = url.replace("0.0.0.0", "127.0.0.1")
        base, _, query = local.partition("/?")
        with urllib.request.urlopen(f"{base}/api/clusters?{query}", timeout=30) as response:
            clusters = json.load(response)
        assert sum(c["size"] for c in clusters) == 80
        if host == "0.0.0.0":                 # any other host than localhost needs the token
            assert "token=" in url
            with pytest.raises(urllib.error.HTTPError, match="403"):
                urllib.request.urlopen(f"{base}/api/clusters", timeout=30)
        else:
            assert "token=" not in url
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0 and "review stopped" in stdout, stderr
    assert "Traceback" not in stderr
    assert not (tiny_run.run_dir / "clusters_reviewed.csv").exists()     # nothing saved


def test_training_data_digest_follows_images_and_labels():
    from finetune.train import training_data_digest

    digest = training_data_digest(["a.png", "b.png"], ["x", "y"])
    assert digest == training_data_digest(["b.png", "a.png"], ["y", "x"])    # order-free
    assert digest != training_data_digest(["a.png", "b.png"], ["x", "x"])
    assert digest != training_data_digest(["a.png", "c.png"], ["x", "y"])
    # the same images named relatively or absolutely (a WORK_DIR spelled either way): resumed
    assert digest == training_data_digest([os.path.abspath("a.png"), Path("b.png")], ["x", "y"])


def test_finetune_from_review_trains_on_the_named_clusters(tiny_run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_run.work, work)
    run_dir = work / "efficientnet_lite0"
    missing = run_script("02_finetune.py", work, check=False, FT_FROM_REVIEW="true")
    assert missing.returncode == 2 and "review the clusters first" in missing.stderr
    state = ReviewState(work, run_dir)
    first, second = state.clusters()[:2]
    state.rename(first["id"], "group one")
    state.rename(second["id"], "group two")
    state.save()
    one_round = {"SELF_TRAIN_SHARE": "0"}         # the named clusters alone, no draft's classes
    # the fixture's draft round trained on the labeled images alone, as a run without the review
    classes = read_record(tiny_run.run_dir, "02_finetune")["summary"]["self_training"][
        "known_classes"]
    trained = int(re.search(r"frozen network's features of (\d+) training images",
                            tiny_run.logs["02_finetune.py"]).group(1))
    after = run_script("02_finetune.py", work, FT_FROM_REVIEW="true", **one_round).stdout
    extra = sum(1 for f in state.files if state.cluster_of[f] in (first["id"], second["id"])
                and f.startswith("unlabeled/"))
    # the named clusters' unlabeled images join under two new class names (the counts are of
    # training images: a share of every class is held out for validation)
    images, new_classes = map(int, re.search(r"fine-tuned \S+ on (\d+) images of (\d+) classes",
                                             after).groups())
    assert new_classes == classes + 2 and trained + 0.7 * extra < images <= trained + extra
    assert "already done" in run_script("02_finetune.py", work, FT_FROM_REVIEW="true",
                                        **one_round).stderr
    # with self-training the draft is anchored by the review's names too: every class of the
    # run's network is a labeled class, a named cluster or one of the draft's new classes
    run_script("02_finetune.py", work, FT_FROM_REVIEW="true")
    drafted = read_record(run_dir, "02_finetune")["summary"]["self_training"]
    names = json.loads((run_dir / "model" / "classes.json").read_text())
    assert {"group one", "group two"} <= set(names)
    assert len(names) == classes + 2 + drafted["new_classes"]
    assert sum(n.startswith("(new cluster") for n in names) == drafted["new_classes"]
