"""Unicode's words (``preprocess.unicode_words``): marks stay in their word, scripts written without
spaces become one token a character, ASCII text is cut as before, and artifacts made without the
setting keep their old tokens."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textclf.text.pipeline import TextPipeline
from textclf.text.tokenizers import build_tokenizer, takes_setting
from textclf.text.tokenizers.unicode import unicode_tokens


@pytest.mark.parametrize("name", ["study", "wordpunct"])
def test_marks_stay_in_their_word_and_unspaced_scripts_give_a_token_a_character(name):
    old, new = build_tokenizer(name), build_tokenizer(name, unicode_words=True)
    # (what \w+ made of it: the vowel signs dropped, or cut off as symbols by wordpunct)
    assert old("हिन्दी भाषा") == (["ह", "न", "द", "भ", "ष"] if name == "study" else
                                 ["ह", "ि", "न", "्", "द", "ी", "भ", "ा", "ष", "ा"])
    assert new("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    assert new("cafe\u0301 naïve") == ["café", "naïve"]  # a decomposed accent: composed (NFKC), one word
    assert new("d\u0336u\u0336") == ["d\u0336u\u0336"]  # a mark with no composed form stays in the word
    assert old("今天天气很好") == ["今天天气很好"]
    assert new("今天天气很好") == list("今天天气很好")
    assert new("日本語のテキスト") == list("日本語のテキスト")
    assert new("ภาษาไทย") == ["ภ", "า", "ษ", "า", "ไ", "ท", "ย"]
    assert new("Привет мир 2024") == ["привет", "мир", "2024"]  # scripts with spaces: words as before
    punctuation = [",", "。"] if name == "wordpunct" else []  # (NFKC: the full-width comma is a comma)
    assert new("我们，公园。") == ["我", "们", *punctuation[:1], "公", "园", *punctuation[1:]]


_ASCII = st.text(alphabet=st.sampled_from([chr(i) for i in range(128)]), max_size=60)
# Letters, digits and symbols of scripts written with spaces, with no marks among them.
_SPACED = st.text(alphabet=st.sampled_from(list("abcXYZ019_ äöüßéñøçαβγΔΣжшЩ€£!?.,:;()-'\"\t\n")), max_size=60)


@settings(max_examples=80, deadline=None)
@given(text=st.one_of(_ASCII, _SPACED), symbols=st.booleans(), astral=st.booleans())
def test_where_no_mark_or_unspaced_script_is_the_tokens_are_the_plain_patterns(text, symbols, astral):
    plain = re.compile(r"\w+|[^\w\s]+" if symbols else r"\w+")
    text += "\U0001F600" if astral else "é"  # (an emoji: the pattern for the planes above U+FFFF)
    assert unicode_tokens(text, symbols) == plain.findall(text)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40))
def test_on_any_text_wordpunct_keeps_every_character_and_study_its_words(text):
    """wordpunct's tokens are the text without its spaces, cut; study's are those of them that
    start with a word character (a symbol, and a mark after one, makes no study token); and the
    basic plane's pattern gives what the one for every plane gives, where both apply."""
    from textclf.text.tokenizers.unicode import _pattern

    if not text or text.isascii():
        return
    words = unicode_tokens(text, symbols=True)
    assert "".join(words) == re.sub(r"\s+", "", text)
    assert unicode_tokens(text, symbols=False) == [t for t in words if re.match(r"\w", t)]
    if max(text) <= "\uffff":
        for symbols in (False, True):
            assert _pattern(symbols, False).findall(text) == _pattern(symbols, True).findall(text)


def test_one_word_typed_in_several_unicode_forms_is_one_token():
    tokenizer = build_tokenizer("wordpunct", unicode_words=True, digits_to_zero=True)
    assert tokenizer("ｃａｆé cafe\u0301 café ﬁne… x²") == ["café", "café", "café", "fine", "...", "x0"]
    assert build_tokenizer("study")("cafe\u0301 ｃａｆé") == ["cafe", "ｃａｆé"]  # (without: three spellings)


def test_an_emojis_variation_selector_stays_with_it_and_a_stray_mark_makes_no_word():
    assert build_tokenizer("wordpunct", unicode_words=True)("love it ❤️!") == ["love", "it", "❤️!"]
    assert build_tokenizer("study", unicode_words=True)("love it ❤️ \u0301x") == ["love", "it", "x"]
    assert build_tokenizer("study", unicode_words=True)("d̶u̶t̶c̶h̶") == ["d̶u̶t̶c̶h̶"]


def test_a_config_gives_its_pipeline_the_setting_and_an_older_artifact_keeps_its_tokens():
    pipeline = TextPipeline.from_preprocess({"tokenizer": "study", "lowercase": True, "min_freq": 1,
                                             "max_size": 100, "max_seq_len": 50, "unicode_words": True})
    pipeline.fit(["今天天气很好", "天气很好"])
    assert pipeline.tokenizer.settings() == {"name": "study", "lowercase": True, "unicode_words": True}
    rebuilt = TextPipeline.from_spec(pipeline.spec())
    assert rebuilt.tokenizer("好天气") == ["好", "天", "气"]
    older = pipeline.spec()
    older["tokenizer"] = {"name": "study", "lowercase": True}  # (an artifact from before the setting)
    assert TextPipeline.from_spec(older).tokenizer("好天气") == ["好天气"]
    off = TextPipeline.from_preprocess({"tokenizer": "study", "lowercase": True, "min_freq": 1, "max_size": 100,
                                        "max_seq_len": 50, "unicode_words": False})
    assert off.tokenizer_key() != pipeline.tokenizer_key()
    # whitespace (and a tokenizer of yours) does not take it: the config's default is not passed on
    assert not takes_setting("whitespace", "unicode_words") and takes_setting("wordpunct", "unicode_words")
    spaced = TextPipeline.from_preprocess({"tokenizer": "whitespace", "lowercase": True, "min_freq": 1,
                                           "max_size": 100, "max_seq_len": 50})
    assert spaced.tokenizer("今天 天气") == ["今天", "天气"]


def _chinese_topics(rows_per_class: int, seed: int = 0) -> pd.DataFrame:
    """Three topics written as Chinese is, with no spaces: each text 6-10 words, about half of
    them from its topic's words and the rest shared, joined into one string."""
    rng = np.random.default_rng(seed)
    topics = {"sport": ["足球", "比赛", "球队", "冠军", "进球", "教练"],
              "money": ["股票", "银行", "利率", "投资", "市场", "货币"],
              "weather": ["下雨", "天气", "温度", "晴天", "台风", "气候"]}
    shared = ["今天", "我们", "认为", "非常", "已经", "新的", "这个", "他们"]
    rows = []
    for label, words in topics.items():
        for _ in range(rows_per_class):
            n = int(rng.integers(6, 11))
            picked = [words[i] if rng.random() < 0.5 else shared[j]
                      for i, j in zip(rng.integers(0, len(words), n), rng.integers(0, len(shared), n))]
            rows.append({"text": "".join(picked) + "。", "label": label})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed)


@pytest.mark.parametrize("unicode_words", [True, False])
def test_a_chinese_data_set_is_learned_only_with_unicode_words(tmp_path, unicode_words):
    import textclf

    path = tmp_path / "zh.csv"
    _chinese_topics(60).to_csv(path, index=False)
    run = textclf.train({"name": "zh", "output_dir": str(tmp_path / "runs"),
                         "data": {"source": "files", "train": str(path), "test_size": 0.25, "val_size": 0.15},
                         "preprocess": {"unicode_words": unicode_words},
                         "model": {"name": "linear", "solver": "svm"}, "train": {"device": "cpu"}},
                        run_dir=tmp_path / "run")
    accuracy = run.test_metrics["accuracy"]
    # Without it every text is one token seen once: nothing learned carries to a new text.
    assert accuracy > 0.9 if unicode_words else accuracy < 0.5
