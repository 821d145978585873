"""The learned chain-letter score: shipped as package data, counted only behind a request to pass it on."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from filters.base import FilterContext
from filters.chain_letter import ChainLetterFilter
from filters.chain_letter_model import ARTIFACT, LABEL, ChainLetterModel, shipped_model
from tests.factories import SCHOOL_DOMAIN, make_settings, make_view

PUPIL = f"jade.w@{SCHOOL_DOMAIN}"
FRIEND = f"kayla.m@{SCHOOL_DOMAIN}"

# Written for this test: the voice of a forwarded scare story, no corpus text.
STORY = ("This happened to a friend of my sister last month. A woman was filling up her car at a petrol "
         "station late at night when a man came up and offered to sell her some perfume. He asked her to smell it, "
         "and when she did she passed out. She woke up hours later in a field with her handbag and car gone. This "
         "gang has done it to dozens of women and the papers will not report it. The perfume is really ether.")
NEWSLETTER = ("Thanks for coming to the Year 9 options evening. The slides from the talks are attached and the "
              "subject leaders are happy to answer questions by email until half term. Please remember that the "
              "options form is due back on Friday.")


def make_filter(**options) -> ChainLetterFilter:
    settings = make_settings(filters={"chain": ["chain_letter"]},
                             chain_letter={"library_dir": "__none__", **options})
    return ChainLetterFilter(settings.filter_options["chain_letter"], FilterContext(settings, None))


async def _check(flt: ChainLetterFilter, body: str):
    return await flt.check(make_view(body, mail_from=PUPIL, rcpt_to=(FRIEND,)))


def test_shipped_artifact_is_package_data_with_its_training_sets_named() -> None:
    assert (resources.files("filters") / "models" / ARTIFACT).is_file()
    model = shipped_model()
    assert "snopes-urban-legends-hoaxes train" in model.meta["trained_on"]
    assert "ham dev" in model.meta["trained_on"]  # never the bench's test split
    assert model.score("") == 0.0
    assert model.score(STORY) > 0.5 > model.score(NEWSLETTER)


async def test_scare_story_with_a_bare_pass_it_on_is_held_only_because_of_the_model() -> None:
    flt = make_filter()
    [finding] = await _check(flt, STORY + " Pass it on.")
    assert "learned score" in finding.reason
    # the same message with the model off: "pass it on" alone is not a chain letter
    assert await _check(make_filter(model=False), STORY + " Pass it on.") == []


async def test_model_counts_only_behind_a_request_to_pass_it_on() -> None:
    flt = make_filter()
    # a scare story that does not ask to be spread is a hoax, not a chain letter
    assert await _check(flt, STORY) == []
    view = make_view(STORY, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assert flt.assess_text(view, view.all_text).model_score == 0.0  # not even computed (cheap first)
    # a newsletter that asks to be shared: the request is there, the voice is not
    assert await _check(flt, NEWSLETTER + " Please share this with friends.") == []


async def test_model_is_off_where_the_message_discusses_chain_letters() -> None:
    report = ("Miss, I got this and I didn't send it on, is it a hoax? It says that: " + STORY + " Pass it on. "
              "We did chain letters in the e-safety lesson so I thought I should report it.")
    flt = make_filter()
    view = make_view(report, mail_from=PUPIL, rcpt_to=(f"tutor@{SCHOOL_DOMAIN}",))
    assert flt.assess_text(view, view.all_text).model_score == 0.0
    assert await flt.check(view) == []


def test_a_site_artifact_is_loaded_and_a_bad_one_is_one_clear_error(tmp_path: Path) -> None:
    with resources.as_file(resources.files("filters") / "models" / ARTIFACT) as shipped:
        copy = tmp_path / "site.npz"
        copy.write_bytes(Path(shipped).read_bytes())
    assert LABEL in ChainLetterModel.load(copy)._model.labels
    make_filter(model_path=str(copy))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"\[chain_letter\] model_path: cannot load .*broken.npz"):
        make_filter(model_path=str(broken))


def test_shipped_artifact_was_made_by_the_training_script_as_it_stands() -> None:
    """The artifact records the script's settings; rerunning the script gives the same bytes
    (docs/chain_letters.md, model card: checked by hand, ~1 minute, not on every test run)."""
    import importlib.util
    script = Path(__file__).resolve().parents[2] / "bench" / "train_chain_letter_model.py"
    spec = importlib.util.spec_from_file_location("train_chain_letter_model", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    meta = shipped_model().meta
    from filters.text.model import FORMAT
    assert meta["format"] == FORMAT  # the risk model's current format (filters/text/model.py)
    assert (meta["C"], meta["seed"], meta["min_df"], meta["min_df_bigram"]) == (
        module.C, module.SEED, module.MIN_DF, module.MIN_DF_BIGRAM)
    assert meta["label"] == LABEL and "held_out_fold" not in meta  # never a measuring model


def test_the_forwarding_apparatus_is_not_what_the_model_reads() -> None:
    """Every public hoax it learned from arrived as a forward: the separator and quoted header
    lines must not count, or a forwarded real IT alert reads like a hoax."""
    from filters.chain_letter_model import model_input
    forward = ("FW: Fwd: " + NEWSLETTER[:40] + "\n\n---------- Forwarded message ---------\n"
               "From: Sue <sue@example.com>\nSent: Monday\nSubject: Fw: options\n\n> " + NEWSLETTER)
    assert "forwarded" not in model_input(forward).lower() and "sue@" not in model_input(forward)
    assert "Fw" not in model_input(forward)
    model = shipped_model()
    assert abs(model.score(forward) - model.score(NEWSLETTER[:40] + "\n\n" + NEWSLETTER)) < 0.05


# Written for this test: a sensational tribute with no lever the cue lists know.
TRIBUTE = ("A famous actor secretly paid for the school dinners of every child in his home town for twenty years, "
           "and nobody knew until he died. He asked the dinner ladies never to tell anyone. When the town found out, "
           "they put up a statue of him outside the school gates, and the children still leave flowers there every "
           "year. Real heroes do not need to be famous.")


def _learned(flt: ChainLetterFilter, body: str) -> bool:
    view = make_view(body, mail_from=PUPIL, rcpt_to=(FRIEND,))
    return any("learned score" in s for s in flt.score(flt.assess_text(view, view.all_text))[1])


def test_the_model_as_the_only_lever_needs_model_alone_minimum() -> None:
    """A plain "pass it on" with no count and no other lever: the model counts only from
    model_alone_minimum up (school notices ask that way too); with a lever, or where the request is
    the letter's last sentence (test_a_letter_that_ends_on_its_plain_request_needs_no_second_lever),
    from model_minimum. Here the request opens the message, so nothing about its ending counts."""
    plain = "Pass it on. " + TRIBUTE
    view = make_view(plain, mail_from=PUPIL, rcpt_to=(FRIEND,))
    assessment = make_filter().assess_text(view, view.all_text)
    assert set(assessment.families) == {"pass_on"} and 0.35 <= assessment.model_score < 1.0
    assert not _learned(make_filter(model_alone_minimum=1.0), plain)
    assert _learned(make_filter(model_alone_minimum=0.35), plain)
    # a lever (guilt) as well: the lower floor, model_minimum, applies
    assert _learned(make_filter(model_alone_minimum=1.0), TRIBUTE + " Pass it on, it only takes a second.")
