"""The risk model's machinery: tokens, the two scoring paths, the artifact, sentence spans, training determinism."""
from __future__ import annotations

import json

import numpy as np
import pytest

import filters.text.model as model_module
from filters.text import sentences
from filters.text.model import RiskModel, Vocabulary, model_text, shipped_model, words


@pytest.fixture(scope="module")
def model() -> RiskModel:
    return shipped_model()


TEXTS = [
    "nobody would miss me if i was gone",
    "Hi Mr Jones,\nplease find my homework attached. Thanks, Sam",
    "Don\u2019t go. I can\u2019t do this anymore!! Write to me@example.org or @sam_99 ...",
    "Caf\u00e9 na\u00efve \u00fcber \u2013 \u201cquoted\u201d words \U0001F600 and a\x00nul",
    "The autumn fair raised over four hundred pounds for the library. " * 30
    + "\n\ni took a load of pills last night\n\n" + "Year 7 football training moves to Wednesdays. " * 30,
]


def _reference_pairs(vocabulary: Vocabulary, folded: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(sentence, feature) pairs the slow, obvious way: the word regex on each sentence."""
    out = []
    for number, (a, b) in enumerate(spans):
        ids = [vocabulary.index.get(w, -1) for w in words(folded.replace("\x00", " "), a, b)]
        for w in ids:
            if w >= 0 and vocabulary.unigram_feature[w] >= 0:
                out.append((number, int(vocabulary.unigram_feature[w])))
        keys = {int(k): int(f) for k, f in zip(vocabulary.bigram_keys, vocabulary.bigram_feature)}
        for first, second in zip(ids, ids[1:]):
            if first >= 0 and second >= 0 and first * vocabulary.n_words + second in keys:
                out.append((number, keys[first * vocabulary.n_words + second]))
    return sorted(out)


@pytest.mark.parametrize("text", TEXTS)
def test_one_pass_tokens_equal_the_word_regex_per_sentence(model: RiskModel, text: str) -> None:
    """The fast path (joined sentences, ASCII byte mapping) finds exactly the words the plain
    regex finds sentence by sentence, non-ASCII text and a NUL in the mail included."""
    folded = model_text(text)
    spans = sentences.spans(text)
    rows, features = model.vocabulary.pairs(folded, spans)
    assert sorted(zip(rows.tolist(), features.tolist())) == _reference_pairs(model.vocabulary, folded, spans)


@pytest.mark.parametrize("whole_text", [False, True])
@pytest.mark.parametrize("text", TEXTS)
def test_dense_and_sparse_scoring_agree(model: RiskModel, text: str, whole_text: bool, monkeypatch) -> None:
    """Big messages take the sparse path; both give the same scores (with the whole text's
    score computed, as for a model that weighs it, and without)."""
    if whole_text:
        combine = model.combine.copy()
        combine[:, 2] = 0.1
        model = RiskModel(model.labels, model.vocabulary, model.coef_t.T, model.intercept, combine,
                          np.array([model.thresholds[label] for label in model.labels]), model.radius, model.meta)
        assert model.combine[:, 2].any()
    documents = [(text, sentences.spans(text)), ("hello there. i am sad", [(0, 12), (13, 21)])]
    monkeypatch.setattr(model_module, "DENSE_LIMIT", 10 ** 12)
    dense = model.raw_parts(documents)
    monkeypatch.setattr(model_module, "DENSE_LIMIT", 0)
    sparse = model.raw_parts(documents)
    for a, b in zip(dense[:3], sparse[:3]):
        assert np.allclose(a, b, atol=1e-4)


def test_window_is_its_sentences_summed(model: RiskModel) -> None:
    """A window's raw score is the score of its sentences' words counted together (pairs of
    words across a sentence end are not features): here the window of the middle sentence
    and the whole text are all five sentences."""
    text = "first line here. i feel so alone. nobody would miss me. the bus was late. ok bye"
    spans = sentences.spans(text)
    sentence_raw, window_raw, message_raw, _ = model.raw_parts([(text, spans)])
    rows, features = model.vocabulary.pairs(model_text(text), spans)
    together = model_module.unit_raw(np.zeros_like(rows), features, 1, model.coef_t, model.intercept)[0]
    assert np.allclose(window_raw[2], together, atol=1e-4)
    if model.combine[:, 2].any():  # the whole text's score is only computed when a label weighs it
        assert np.allclose(message_raw[0], together, atol=1e-4)
    else:
        assert np.allclose(message_raw[0], model.intercept)
    first = model.raw_parts([(text, spans[:1])])[0][0]
    assert np.allclose(sentence_raw[0], first, atol=1e-4)


@pytest.mark.parametrize("text, folded", [
    ("Mail Bob.Smith@example.co.uk or @bob!", "mail xmail" + " " * 18 + " or xat !"),
    ("a@b.c @ab x@y", "xmail xat x@y"),
    ("see https://example.org/x?y=1 now", "see xurl" + " " * 21 + " now"),
    ("it\u2019s &amp; fine", "it's &" + " " * 4 + " fine"),  # entities decoded, padded
])
def test_model_text_masks_and_keeps_length(text: str, folded: str) -> None:
    assert model_text(text) == folded and len(model_text(text)) == len(text)


def test_spans_and_split_agree() -> None:
    text = ("Hi.  nobody would miss me\n> quoted\nThis is a long hard-wrapped line of text in an email, "
            "as mail\nthat goes on here. Done!\n\nA list,\nwith a comma")
    found = sentences.split(text)
    assert [(s.start, s.end) for s in found] == sentences.spans(text)
    assert [s.text for s in found] == [
        "Hi.", "nobody would miss me", "> quoted",
        "This is a long hard-wrapped line of text in an email, as mail\nthat goes on here.", "Done!",
        "A list,\nwith a comma"]
    long = "word " * 200
    assert all(b - a <= sentences.MAX_SENTENCE_CHARS for a, b in sentences.spans(long))


def test_vocabulary_build_is_deterministic() -> None:
    texts = ["i feel sad", "i feel fine", "sad sad day", "i feel sad today"]
    one, two = Vocabulary.build(texts, 2, 2), Vocabulary.build(list(reversed(texts)), 2, 2)
    assert one.word_list == two.word_list == ["feel", "i", "sad"]
    assert one.bigram_keys.tolist() == two.bigram_keys.tolist()
    assert one.n_features == 3 + 2  # "i feel" and "feel sad" are the pairs in 2+ texts


def test_artifact_is_v3_and_compact(model: RiskModel) -> None:
    assert model.meta["format"] == "schoolgate-risk-model/3"
    assert model.combine.shape == (len(model.labels), 6)
    assert model.vocabulary.n_features == model.coef_t.shape[0]
    whole = model.whole_text
    assert whole is not None and whole.labels == ("self_harm",)
    assert whole.coef_t.shape == (1 << whole.bits, len(whole.labels))
    assert 0 < whole.thresholds[0] < 1


def test_char_keys_fold_spacing_and_stay_in_range() -> None:
    one = model_module.char_keys(model_text("I'm  sooo\ttired"), 18)
    two = model_module.char_keys(model_text("im sooo tired"), 18)
    assert sorted(one.tolist()) == sorted(two.tolist())
    # " im sooo tired " is 15 bytes: 13 trigrams, 12 four-grams, 11 five-grams
    assert len(two) == 13 + 12 + 11 and two.min() >= 0 and two.max() < 1 << 18
    assert len(model_module.char_keys("", 18)) == 0 and len(model_module.char_keys("a", 18)) == 1
    assert model_module.char_keys(model_text("Über naïve"), 18).size  # non-ASCII bytes are kept


def test_char_keys_within_words_are_each_words_own_ngrams() -> None:
    """scikit-learn's "char_wb": 2-5-grams of each word with a space either side, never across
    a space; punctuation belongs to its word ("die." is not "die")."""
    keys = model_module.char_keys(model_text("ab cd"), 20, (2, 5), within_words=True)
    # " ab " and " cd ": 3 bigrams, 2 trigrams, 1 four-gram each; nothing spans "b c"
    assert len(keys) == 2 * (3 + 2 + 1)
    alone = model_module.char_keys(" ab ", 20, (2, 5), within_words=True)
    assert set(alone.tolist()) <= set(keys.tolist())
    plain = model_module.char_keys(model_text("i want to die"), 20, (2, 5), within_words=True)
    dotted = model_module.char_keys(model_text("i want to die."), 20, (2, 5), within_words=True)
    assert set(plain.tolist()) != set(dotted.tolist())
    assert model_module.char_keys(model_text("I'm  sooo\ttired"), 20, (2, 5), True).tolist() == \
        model_module.char_keys(model_text("im sooo tired"), 20, (2, 5), True).tolist()


def test_shipped_whole_text_model_is_tf_idf_inside_words(model: RiskModel) -> None:
    whole = model.whole_text
    assert whole.within_words and whole.ngrams == (2, 5)
    assert whole.idf is not None and whole.idf.shape == (1 << whole.bits,) and (whole.idf >= 0).all()


def test_whole_text_score_is_its_training_matrix_dot_the_coefficients(model: RiskModel) -> None:
    """The scoring path (sort, counts, log, unit length) equals the training features
    (filters/text/model.py char_matrix) times the coefficients."""
    whole = model.whole_text
    texts = ["nobody would miss me if i was gone", "See you at football practice on Tuesday!",
             "i cant do this anymore. " * 30, ""]
    x = model_module.char_matrix(texts, whole.bits, whole.ngrams, whole.within_words, whole.idf)
    expected = x @ whole.coef_t + whole.intercept
    got = whole.raw([model_text(t) for t in texts])
    assert np.allclose(got, expected, atol=1e-4)
    prob = whole.probability([model_text(t) for t in texts])
    assert prob[0, 0] > prob[1, 0]


def test_a_version_2_artifact_still_loads(model: RiskModel, tmp_path) -> None:
    """A site's own v2 artifact (no whole-text model) is read; its filter runs windows only."""
    from filters.text.artifacts import write_npz
    windows_only = RiskModel(model.labels, model.vocabulary, model.coef_t.T, model.intercept, model.combine,
                             np.array([model.thresholds[label] for label in model.labels]), model.radius, model.meta)
    path = tmp_path / "v2.npz"
    windows_only.save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    assert "text_coef" not in arrays
    arrays["meta"] = np.array(json.dumps({**json.loads(str(arrays["meta"])), "format": "schoolgate-risk-model/2"}))
    write_npz(path, arrays)
    again = RiskModel.load(path)
    assert again.whole_text is None and again.meta["format"] == "schoolgate-risk-model/2"
    text = "nobody would miss me if i was gone"
    assert np.allclose(again.score(text, [(0, len(text))]).combined,
                       model.score(text, [(0, len(text))]).combined, atol=1e-3)


def test_pairs_of_numbers_sentences_on_across_documents(model: RiskModel) -> None:
    """One pass over several documents finds each document's pairs, its sentences numbered
    after the documents before it (non-ASCII and a NUL in one of them included)."""
    documents = [(model_text(text), sentences.spans(text)) for text in TEXTS]
    rows, features = model.vocabulary.pairs_of(documents)
    expected, offset = [], 0
    for folded, spans in documents:
        r, f = model.vocabulary.pairs(folded, spans)
        expected += zip((r + offset).tolist(), f.tolist())
        offset += len(spans)
    assert sorted(zip(rows.tolist(), features.tolist())) == sorted(expected)


def test_log1p_lookup_gives_numpy_log1p_bits() -> None:
    """The count tables' log(1 + n) is looked up: bit for bit what np.log1p gives on float32,
    whatever the table's shape or offset in memory, and np.log1p itself past the table."""
    rng = np.random.default_rng(7)
    for shape in [(1, 1), (3, 7), (25, 385), (1, 4097), (60, 1000)]:
        table = rng.integers(0, 40, shape)
        table[0, 0] = 4095
        expected = np.log1p(table.astype(np.float32))
        assert np.array_equal(model_module._log1p_counts(table).view(np.uint32), expected.view(np.uint32))
    big = np.array([[0, 1, 5000]])
    assert np.array_equal(model_module._log1p_counts(big), np.log1p(big.astype(np.float32)))


@pytest.mark.parametrize("sizes", [[5], [1, 1, 1], [2, 7, 1], [3, 0, 4]])
def test_dense_windows_are_the_window_matrix(model: RiskModel, sizes: list[int]) -> None:
    """The dense path's window scores are, bit for bit, the window matrix (each sentence and
    `radius` either side, within its document) times the sentence counts, then log(1 + count),
    unit length and the coefficients: documents shorter than a window included."""
    text = "i feel so alone. nobody would miss me. the bus was late. i took the pills. ok bye. see you"
    spans = sentences.spans(text)
    documents = [(text, [spans[i % len(spans)] for i in range(size)]) for size in sizes]
    sentence_raw, window_raw, _, _ = model.raw_parts(documents)
    rows, features = model.vocabulary.pairs_of([(model_text(t), s) for t, s in documents if s])
    used = np.unique(features)
    total = sum(sizes)
    counts = np.zeros((total, len(used)), np.float32)
    np.add.at(counts, (rows, np.searchsorted(used, features)), 1)
    windows = (model_module.window_matrix(sizes, model.radius) @ counts).astype(np.float32)
    for table, got in ((counts, sentence_raw), (windows, window_raw)):
        values = np.log1p(table)
        norm = np.sqrt(np.einsum("ij,ij->i", values, values))
        norm[norm == 0] = 1
        assert np.array_equal((values @ model.coef_t[used]) / norm[:, None] + model.intercept, got)


def test_a_message_without_a_known_word_scores_the_intercept(model: RiskModel) -> None:
    """No feature at all (an empty count table) is every part's intercept, not an error."""
    sentence_raw, window_raw, _, sizes = model.raw_parts([("zzqxj qqzvk", [(0, 5), (6, 11)]), ("x", [])])
    assert list(sizes) == [2, 0]
    assert np.array_equal(sentence_raw, np.tile(model.intercept, (2, 1)))
    assert np.array_equal(window_raw, np.tile(model.intercept, (2, 1)))
