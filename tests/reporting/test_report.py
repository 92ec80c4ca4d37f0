import re
import shutil
import subprocess

import matplotlib.image
import pytest

from textclf.cli import main
from textclf.inference import Predictor
from textclf.reporting.explain import explain_texts

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(trained_run, tmp_path_factory, mini_config):
    run = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(trained_run, run)
    # Diagnostics written into the run folder appear in the report.
    assert main(["sanity", "--config", str(mini_config), "--output", str(run / "sanity")]) == 0
    assert main(["lr-find", "--config", str(mini_config), "--output", str(run / "lr_find"), "--steps", "30"]) == 0
    search = mini_config.read_text() + ("search:\n  epochs: 1\n  space:\n    train.lr: [0.01, 0.02]\n")
    (run.parent / "search.yaml").write_text(search)
    assert main(["search", "--config", str(run.parent / "search.yaml"), "--output", str(run / "search")]) == 0
    assert main(["report", str(run)]) == 0
    return run


def test_report_has_every_section_and_images_resolve(report):
    md = (report / "report.md").read_text()
    for heading in ("# Report:", "## Configuration", "## Data", "## Sanity checks",
                    "## Learning-rate range test", "## Hyperparameter search", "## Training", "## Results",
                    "### Per class (test)", "## Most confused classes (test)", "## Explained examples (test)"):
        assert heading in md, heading
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {"data/class_distribution.png", "data/token_lengths.png", "training_curves.png",
            "evaluation/test/confusion_matrix.png", "sanity/overfit_curve.png", "lr_find/lr_find.png",
            "search/metric_by_key.png"} <= set(images)
    for image in images:
        assert (report / image).is_file(), image
    assert "majority baseline on test" in md and "model on validation" in md
    assert "→" in md  # at least one confused pair with its examples


def test_html_report_is_self_contained(report):
    page = (report / "report.html").read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) >= 7 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page.replace("https://ndownloader", "")
    assert page.count('class="explanation"') == 3


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_html_report_renders_in_a_headless_browser_without_network(report, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,3000",
         f"--screenshot={shot}", (report / "report.html").as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (3000, 1200)
    assert pixels.std() > 0.05  # text and figures, not a blank page


def test_explain_attention_and_gradient_models(trained_run, tmp_path, capsys):
    predictor = Predictor.load(trained_run / "checkpoints" / "best.ckpt")
    (e,) = explain_texts(predictor, ["The Rangers won the hockey game in overtime, said the NHL"])
    assert e.method == "attention" and len(e.weights) == len(e.tokens) == 11
    assert max(e.weights) == pytest.approx(1.0) and min(e.weights) >= 0
    # A model without attention: gradient × input.
    from textclf.models import build_model

    artifact = predictor.artifact
    artifact.model_name, artifact.model_params = "lstm", {"embedding_dim": 32, "hidden_size": 32}
    artifact.state_dict = build_model("lstm", artifact.model_params, artifact.build_context()).state_dict()
    (g,) = explain_texts(Predictor([artifact]), ["space shuttle launch orbit"])
    assert g.method == "gradient × input" and len(g.weights) == 4 and max(g.weights) == pytest.approx(1.0)
    # The command: text or file in, highlighted HTML out.
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "nasa orbit"}\n{"text": ""}\n')
    out = tmp_path / "explain.html"
    ckpt = str(trained_run / "checkpoints" / "best.ckpt")
    assert main(["explain", "--checkpoint", ckpt, "--input", str(texts), "--output", str(out)]) == 0
    page = out.read_text()
    assert page.count('class="explanation"') == 2 and "rgba(255, 120, 0" in page
    assert "top tokens by attention" in capsys.readouterr().out


def test_a_report_never_downloads_the_data(trained_run, tmp_path, monkeypatch):
    """A run whose config may download the archive, with the archive gone: the report says the
    explanations are not available instead of fetching anything."""
    from textclf.artifact import ModelArtifact
    from textclf.reporting.report import build_report

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    artifact = ModelArtifact.load(run / "checkpoints" / "best.ckpt")
    artifact.config["data"].update(download=True, root=str(tmp_path / "gone"))
    artifact.save(run / "checkpoints" / "best.ckpt")

    def no_network(*args, **kwargs):
        raise AssertionError("the report tried to download the archive")

    monkeypatch.setattr("textclf.data.newsgroups.download_archive", no_network)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    md, _ = build_report(run, explain_examples=2)
    assert "Not available:" in md.read_text()
