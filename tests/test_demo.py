"""`python -m bot demo`, run as a newcomer runs it: no token, no .env, no network but loopback.

The figures are the bot's own answers to the leader at the end of the scripted quarter; they must be
the county notice's, exactly."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

ROOT = Path(__file__).resolve().parents[1]
NOTICE = (
    "共受理有效信函 47 件，已办结 35 件，办结率 74.5%",
    "转各镇办理 29 件，已办结 21 件，办结率 72.4%",
    "转部门办理 18 件，已办结 14 件，办结率 77.8%",
    "八仙镇、长安镇、县农业农村局、县住建局等单位办理滞后",
)


def play(tmp_path: Path, language: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "out"
    # A clean environment: whatever BOT_TOKEN, DATABASE_URL or proxy the machine has must not matter.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "SYSTEMROOT", "TMPDIR")}
    env.update(LANGUAGE=language, PYTHONIOENCODING="utf-8", HTTPS_PROXY="http://127.0.0.1:9", BOT_TOKEN="not a token")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, encoding="utf-8", timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result, out


@pytest.fixture(scope="module")
def chinese(tmp_path_factory):
    return play(tmp_path_factory.mktemp("demo-zh"), "zh_CN")


def test_the_quarter_ends_with_the_notices_figures(chinese):
    result, out = chinese
    summary = result.stdout.split("\n\n")[-2]  # the paragraph printed after the transcript
    for figure in NOTICE:
        assert figure in summary, (figure, summary)
    transcript = (out / "transcript.txt").read_text(encoding="utf-8")
    assert transcript.strip() in result.stdout
    for figure in NOTICE:  # and it is what the bot said to the leader
        assert figure in transcript.split("/report")[-1]
    assert "[█████████] 9/9" in result.stderr  # the progress shown while it plays


def test_the_transcript_tells_the_quarter(chinese):
    _, out = chinese
    transcript = (out / "transcript.txt").read_text(encoding="utf-8")
    for step in (
        "/invite 八仙镇", "新导入 44 件", "POST /api/letters", "[交办八仙镇]", "[签收]", "已退回县信息中心",
        "/assign 46 城关", "申请延期 3 个工作日", "新的办理时限", "红牌", "黄牌", "督办", "已办结，谢谢",
        "办结率最低的单位", "/rate 八仙镇", "交办 10 件，已办结 5 件，办结率 50.0%",
    ):
        assert step in transcript, step
    # Masked in chat, escaped always: the citizen's name, phone and "<请转八仙镇>" arrive as written.
    assert "杨** 138****1234" in transcript and "13812341234" not in transcript and "杨秀英" not in transcript
    assert "<请转八仙镇>" in transcript


def test_the_files_are_left_in_the_folder(chinese):
    result, out = chinese
    workbook = load_workbook(io.BytesIO((out / "领导信箱办理情况-2026-01-01-2026-03-31.xlsx").read_bytes()))
    rows = [tuple(c for c in row) for row in workbook.active.iter_rows(values_only=True)]
    baxian = next(row for row in rows if "八仙镇" in row)
    assert baxian[2:4] == (10, 5), baxian
    assert (out / "领导信箱办理情况-2026-01-01-2026-03-31.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "领导信箱台账-2026年1-2月.xlsx").exists()
    assert str(out) in result.stdout


def test_the_demo_speaks_english(tmp_path):
    result, out = play(tmp_path, "en")
    transcript = (out / "transcript.txt").read_text(encoding="utf-8")
    assert "presses [Sign for]" in transcript, transcript[:2000]
    assert "47" in result.stdout.split("\n\n")[-2] and "74.5%" in result.stdout.split("\n\n")[-2]
    assert "按期" not in transcript  # the bot's own words follow the people's language too
