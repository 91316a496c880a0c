"""Masking as chat shows citizens' numbers: each way people write them (pure rules; the chat tests
check that every message uses them)."""

from __future__ import annotations

import pytest

from models.privacy import Privacy, mask_name, mask_numbers, mask_phone


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("电话13812345678，身份证610926199001011234", "电话138****5678，身份证610926********1234"),
        ("１３８１２３４５６７８", "１３８****５６７８"),  # full-width, from a Chinese keyboard
        ("+86 138-1234-5678", "+86 138-****-5678"),
        ("8613812345678", "86138****5678"),
        ("138 123 45678", "138 *** *5678"),
        ("1381-234-5678", "138*-***-5678"),
        ("（0915）8812345", "（0915）***2345"),
        ("(0915)8812345", "(0915)***2345"),
        ("0915-8812345", "0915-***2345"),
        ("610926 19900101 123X", "610926 ******** 123X"),
        ("610926-19900101-1234", "610926-********-1234"),
        ("sfz610926199001011234", "sfz610926********1234"),
        ("６１０９２６１９９００１０１１２３４", "６１０９２６********１２３４"),
        ("610926800101123", "610926******123"),  # the old 15-digit ID
    ],
)
def test_numbers_are_masked_however_they_are_written(text, shown):
    assert mask_numbers(text) == shown


@pytest.mark.parametrize("text", ["2019-03-05 10:00 金额12345元", "订单号 202403051234567890123", "第3组12户", "<b>&amp;</b>"])
def test_other_numbers_are_left_alone(text):
    assert mask_numbers(text) == text


def test_names_and_phones_and_the_full_setting():
    assert mask_name("张三丰") == "张**" and mask_name("") == ""
    assert mask_phone("13812345678") == "138****5678" and mask_phone("12345") == "*2345"
    masked, full = Privacy("masked"), Privacy("full")
    text = "张三丰说：我的电话是13812345678"
    assert masked.text(text, names=("张三丰",)) == "张**说：我的电话是138****5678"
    assert full.text(text, names=("张三丰",)) == text
