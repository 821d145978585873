"""Risk model filter: what it reads as risk, what it leaves, evidence, context, policy, and `schoolgate scan`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from filters.base import Action, Category, FilterContext, Role, Severity
from filters.policy import Policy
from filters.registry import filter_class, preload
from filters.risk import Options, RiskFilter
from filters.text.quoted import own_and_quoted
from filters.text import sentences
from filters.text.model import RiskModel, model_text, shipped_model, tokens, window_matrix
from tests.factories import make_settings, make_view, site_toml_virus

ROOT = Path(__file__).resolve().parents[2]
SCHOOL = "school.sch.uk"
PUPILS = f"pupils.{SCHOOL}"
STAFF = f"teacher@{SCHOOL}"
PUPIL = f"pupil@{PUPILS}"
PUPIL2 = f"friend@{PUPILS}"
OUTSIDER = "stranger@example.org"


@pytest.fixture(scope="module")
def flt() -> RiskFilter:
    return RiskFilter(Options(), FilterContext(settings=None, directory=None))


@pytest.fixture(scope="module")
def settings():
    return make_settings(school={"domains": [SCHOOL, PUPILS]},
                         directory={"domain_roles": {SCHOOL: "staff", PUPILS: "student"}})


def codes(flt: RiskFilter, text: str, sender: Role = Role.STUDENT,
          recipients: tuple[Role, ...] = (Role.EXTERNAL,)) -> set[str]:
    return {f.code for f in flt.analyse([text], sender, recipients)}


# The three (also in the training examples) and wordings the model never saw
# in training (none of these lines is in config/lists/risk_examples/).
@pytest.mark.parametrize("text", [
    "nobody would miss me if i was gone",
    "i took a load of pills last night",
    "ive given my stuff away, this weekend it ends",
    "i dont think anyone would notice if i wasnt here",
    "i have been cutting my arms every night",
    "im going to take all my mums pills on saturday",
    "honestly i just want to kill myself, nothing ever gets better",
    "Hi miss, sorry I wasn't in today.\nI've been really low and I keep thinking about ending my life.",
])
def test_self_harm_is_found(flt: RiskFilter, text: str) -> None:
    assert "RISK_SELF_HARM" in codes(flt, text)


@pytest.mark.parametrize("text, code", [
    ("we all agreed youre the ugliest and most pathetic person in year 9, even your friends laugh at you",
     "RISK_BULLYING"),
    ("i'm going to stab you tomorrow", "RISK_VIOLENT_THREAT"),
    ("ive got a knife in my bag and im going to use it on him at break", "RISK_VIOLENT_THREAT"),
])
def test_other_labels(flt: RiskFilter, text: str, code: str) -> None:
    assert code in codes(flt, text)


@pytest.mark.parametrize("text", [
    "Hi Mr Jones, please find my homework attached. Thanks, Sam",
    "Dear parents, the Year 8 trip to the museum is on Thursday. Please bring a packed lunch.",
    "this homework is killing me lol",
    "i want to die of embarrassment, i fell over in front of everyone",
    "add me on snapchat lol",
    "Order number 1488 has been dispatched and will arrive on Tuesday.",
    "Can you send me the notes from chemistry? I was off with a cold.",
    "The governors' meeting is moved to 6pm; minutes attached.",
    "well done on your exam results, we are all so proud of you",
])
def test_ordinary_mail_has_no_finding(flt: RiskFilter, text: str) -> None:
    assert codes(flt, text) == set()


def test_newsletter_is_judged_by_its_sad_line(flt: RiskFilter) -> None:
    """A long message is scored sentence window by window: the one worrying line is found,
    and it (not the newsletter around it) is the evidence."""
    filler = ("The autumn fair raised over four hundred pounds for the library. "
              "Year 7 football training moves to Wednesdays after half term. "
              "Please label your child's uniform, as lost property is overflowing. ") * 12
    line = "i took a load of pills last night and i dont want to wake up"
    findings = flt.analyse([filler + "\n\n" + line + "\n\n" + filler], Role.STUDENT, (Role.EXTERNAL,))
    found = [f for f in findings if f.code == "RISK_SELF_HARM"]
    assert found and found[0].evidence[0] == line
    assert all(e in filler + "\n\n" + line for e in found[0].evidence)  # exact spans, for highlighting
    assert flt.analyse([filler], Role.STUDENT, (Role.EXTERNAL,)) == []


@pytest.mark.parametrize("text, severity, words", [
    ("im going to take all my mums pills on saturday", Severity.CRITICAL, "a method (pills) and a time"),
    ("ive given my stuff away, this weekend it ends", Severity.CRITICAL, "goodbye"),
    ("i took a load of pills last night", Severity.HIGH, "has happened"),
])
def test_self_harm_reason_and_severity(flt: RiskFilter, text: str, severity: Severity, words: str) -> None:
    finding = next(f for f in flt.analyse([text], Role.STUDENT, ()) if f.code == "RISK_SELF_HARM")
    assert finding.category is Category.SELF_HARM and finding.safeguarding
    assert finding.severity is severity
    assert words in finding.reason and "risk model score" in finding.reason
    assert finding.evidence == (text,)
    assert finding.score is not None and 0 < finding.score <= 1


@pytest.mark.parametrize("sender, recipients, expected", [
    (Role.EXTERNAL, (Role.STUDENT,), True),  # an outsider writing to a pupil
    (Role.STAFF, (Role.STUDENT,), True),  # staff writing privately to a pupil
    (Role.STUDENT, (Role.STUDENT,), False),  # two pupils: not grooming
    (Role.EXTERNAL, (Role.STAFF,), False),  # no pupil involved
])
def test_grooming_needs_an_adult_writing_to_a_pupil(flt: RiskFilter, sender: Role,
                                                     recipients: tuple[Role, ...], expected: bool) -> None:
    text = "this is our little secret, dont tell your mum we talk and delete these messages"
    assert ("RISK_GROOMING" in codes(flt, text, sender, recipients)) is expected


def test_thresholds_option(flt: RiskFilter) -> None:
    text = "i dont think anyone would notice if i wasnt here"
    strict = RiskFilter(Options(thresholds={"self_harm": 0.999}, cue_thresholds={},
                                text_thresholds={"self_harm": 0.999}), FilterContext(settings=None, directory=None))
    assert "RISK_SELF_HARM" in codes(flt, text)
    assert "RISK_SELF_HARM" not in codes(strict, text)
    # the windows' threshold alone does not silence the whole-text path (a pupil's own words)
    windows_strict = RiskFilter(Options(thresholds={"self_harm": 0.999}, cue_thresholds={}),
                                FilterContext(settings=None, directory=None))
    assert windows_strict.text_thresholds["self_harm"] < 0.999
    only = RiskFilter(Options(labels=["bullying"]), FilterContext(settings=None, directory=None))
    assert codes(only, "i took a load of pills last night") == set()


def test_unknown_label_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown label.*self_hram"):
        RiskFilter(Options(thresholds={"self_hram": 0.5}), FilterContext(settings=None, directory=None))


async def test_check_reads_the_view_and_policy_holds(flt: RiskFilter, settings) -> None:
    view = make_view("hey\nnobody would miss me if i was gone", mail_from=PUPIL, rcpt_to=(PUPIL2,),
                     settings=settings)
    findings = await flt.check(view)
    assert [f.code for f in findings] == ["RISK_SELF_HARM"]
    verdict = Policy(settings).decide(view, findings)
    assert verdict.actions[PUPIL2] is Action.HOLD and "dsl" in verdict.alerts


async def test_self_test_passes(flt: RiskFilter) -> None:
    assert await flt.self_test() == []


def test_registered_and_in_the_shipped_chain(settings) -> None:
    assert filter_class("risk") is RiskFilter
    assert "risk" in settings.filters.chain
    assert isinstance(settings.filter_options["risk"], Options)
    preload(["risk"])  # loads the shipped model once, shared by every filter after
    assert RiskFilter(Options(), FilterContext(settings=None, directory=None))._model is shipped_model()


def test_shipped_artifact_is_data_small_and_described() -> None:
    path = ROOT / "filters" / "models" / "risk_model.npz"
    assert path.stat().st_size < 20_000_000
    with np.load(path, allow_pickle=False) as data:  # loads without unpickling anything
        labels = list(data["labels"])
        meta = json.loads(str(data["meta"]))
    assert labels == ["self_harm", "violent_threat", "bullying", "hate", "sexual", "grooming"]
    assert meta["sklearn"] and meta["seed"] == 0 and meta["radius"] >= 1


def test_artifact_round_trip(tmp_path: Path) -> None:
    model = shipped_model()
    path = tmp_path / "copy.npz"
    model.save(path)
    again = RiskModel.load(path)
    text = "nobody would miss me if i was gone"
    spans = [(0, len(text))]
    assert np.allclose(model.score(text, spans).window, again.score(text, spans).window, atol=1e-3)
    assert again.thresholds == pytest.approx(model.thresholds)


def test_sentences_and_spans() -> None:
    text = ("Hi.  nobody would miss me\n> quoted line here\nThis is a long hard-wrapped line of text in an "
            "email, as mail\nthat goes on here.")
    found = sentences.split(text)
    assert [s.text for s in found] == ["Hi.", "nobody would miss me", "> quoted line here",
                                       "This is a long hard-wrapped line of text in an email, as mail\n"
                                       "that goes on here."]
    assert all(text[s.start:s.end] == s.text for s in found)


def test_features_keep_offsets_and_fold() -> None:
    text = "Don’t GO to www.example.com, @bob!"
    folded = model_text(text)
    assert len(folded) == len(text)
    assert tokens(folded)[:3] == ["dont", "go", "to"] and "xurl" in tokens(folded) and "xat" in tokens(folded)
    assert window_matrix([3, 1], 1).toarray().tolist() == [
        [1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]]


def test_schoolgate_scan_holds_a_disclosure(tmp_path: Path) -> None:
    """Through the command a network manager runs: the shipped chain, a pupil writing out."""
    site = tmp_path / "site.toml"
    site.write_text(f'[school]\ndomains = ["{SCHOOL}", "{PUPILS}"]\n'
                    f'[directory]\ndomain_roles = {{ "{PUPILS}" = "student", "{SCHOOL}" = "staff" }}\n'
                    f'[quarantine]\npath = "q"\n' + site_toml_virus(), encoding="utf-8")
    cases = {"worry.eml": ("hey\n\ni took a load of pills last night", True),
             "homework.eml": ("Hi Mr Jones, my homework is attached. Thanks, Sam", False)}
    for name, (body, _) in cases.items():
        (tmp_path / name).write_bytes(
            f"From: {PUPIL}\r\nTo: {OUTSIDER}\r\nSubject: hi\r\n\r\n{body}\r\n".encode())
    for name, (_, worrying) in cases.items():
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "scan", "--config", str(site), "--mail-from", PUPIL,
             "--rcpt", OUTSIDER, str(tmp_path / name)],
            capture_output=True, text=True, timeout=180, cwd=ROOT)
        assert result.returncode in (0, 1, 2), result.stderr
        out = json.loads(result.stdout.splitlines()[-1])
        risk = [f for f in out["findings"] if f["filter"] == "risk"]
        if worrying:
            assert out["action"] == "hold"
            assert risk and risk[0]["code"] == "RISK_SELF_HARM" and risk[0]["category"] == "self_harm"
            assert risk[0]["evidence"] == ["i took a load of pills last night"]
        else:
            assert risk == [] and out["action"] == "pass"


@pytest.mark.parametrize("sender, rcpt, expected", [
    (OUTSIDER, STAFF, Action.TAG),  # an adult's mailing-list politics to staff: tagged
    (OUTSIDER, PUPIL, Action.HOLD),  # the same to a pupil: held
    (PUPIL, STAFF, Action.HOLD),  # a pupil writing it: held
])
def test_policy_for_model_hate_by_role(settings, sender: str, rcpt: str, expected: Action) -> None:
    from filters.base import Finding
    finding = Finding(code="RISK_HATE", filter="risk", category=Category.HATE, severity=Severity.MEDIUM,
                      evidence=("x",), reason="Reads as hateful or extremist language about a group.")
    view = make_view("x", mail_from=sender, rcpt_to=(rcpt,), settings=settings)
    assert Policy(settings).decide(view, [finding]).actions[rcpt] is expected


@pytest.mark.parametrize("text, code, level", [
    ("im going to take all my mums pills on saturday", "RISK_SELF_HARM", 5),  # a method and a time
    ("ive given my stuff away, this weekend it ends", "RISK_SELF_HARM", 5),  # a goodbye
    ("i took a load of pills last night", "RISK_SELF_HARM", 4),  # a disclosure
    ("honestly i just want to kill myself, nothing ever gets better", "RISK_SELF_HARM", 4),
    ("ive got a knife in my bag and im going to use it on him at break", "RISK_VIOLENT_THREAT", 5),
    ("i'm going to stab you", "RISK_VIOLENT_THREAT", 4),
    ("we all agreed youre the ugliest and most pathetic person in year 9, even your friends laugh at you",
     "RISK_BULLYING", 3),
])
def test_findings_carry_a_level(flt: RiskFilter, text: str, code: str, level: int) -> None:
    """Issue 17 item 4: 5 = intent with a plan, method or time; 4 = a disclosure or an explicit
    threat; 3 = bullying without threat / concerning mood; 2 = abuse; 1 = language."""
    finding = next(f for f in flt.analyse([text], Role.STUDENT, (Role.EXTERNAL,)) if f.code == code)
    assert finding.level == level
    assert finding.as_dict()["level"] == level


def test_grooming_meeting_in_secret_is_level_5(flt: RiskFilter) -> None:
    text = ("you are so mature for your age. this is our little secret, dont tell your mum. "
            "i can pick you up after school on friday and we can go to my house")
    finding = next(f for f in flt.analyse([text], Role.EXTERNAL, (Role.STUDENT,)) if f.code == "RISK_GROOMING")
    assert finding.level == 5 and finding.severity is Severity.CRITICAL
    assert "meet a pupil in secret" in finding.reason


@pytest.mark.parametrize("text", [
    # wordings of threats the training lines do not have
    "i am going to hurt you so badly on friday",
    "people like him should be shot",
    "tomorrow im bringing my brothers blade and you will regret it",
])
def test_threats_in_other_words(flt: RiskFilter, text: str) -> None:
    assert "RISK_VIOLENT_THREAT" in codes(flt, text)


@pytest.mark.parametrize("text", [
    # counter-speech and reporting: talk about hate or threats, not hate or threats
    "saying that refugees are criminals is racist and wrong, please stop",
    "someone posted that gay people should be hurt, i have reported it to my head of year",
    "i will kill it at the talent show tomorrow",
    "i'll beat you at fifa tonight",
])
def test_counter_speech_and_idioms_are_not_threats_or_hate(flt: RiskFilter, text: str) -> None:
    assert not codes(flt, text) & {"RISK_VIOLENT_THREAT", "RISK_HATE"}


@pytest.mark.parametrize("text", [
    "Email us at",  # a newsletter's footer (SpamAssassin ham), read as grooming before the signal rule
    "Thanks for signing up to our newsletter. Email us at info@example.org with any questions.",
    "And I've got loads of Beatles albums and singles in these strange wav files!",
])
def test_outsiders_ordinary_mail_to_a_pupil_has_no_safeguarding_finding(flt: RiskFilter, text: str) -> None:
    """Grooming needs a grooming signal beside the score (secrecy, a meeting, gifts, photos, a
    private channel); a threat cue needs a violent verb, not "Beatles"."""
    findings = flt.analyse([text], Role.EXTERNAL, (Role.STUDENT,))
    assert not [f for f in findings if f.safeguarding or f.code == "RISK_VIOLENT_THREAT"]


def test_own_and_quoted_keep_the_mail_as_written() -> None:
    text = "no i am not ok\r\n> are you ok?\r\n> i will batter you\r\nsorry\n\nOn Mon, 1 Dec 2026, Sam wrote:\nhi there"
    own, quoted = own_and_quoted(text)
    assert len(own) == len(quoted) == len(text)
    assert "no i am not ok" in own and "sorry" in own and "batter" not in own and "hi there" not in own
    assert "> i will batter you" in quoted and "hi there" in quoted and "not ok" not in quoted
    assert all(a == " " or a == b for a, b in zip(own, text))  # own words stay where they were
    assert own_and_quoted("plain mail, nothing quoted") == ("plain mail, nothing quoted", "")


def test_quoted_text_is_read_for_self_harm_only(flt: RiskFilter) -> None:
    """A pupil forwarding the threat they got is reporting it; a quoted disclosure is still found,
    and its evidence is the line as written."""
    reply = "Miss, look what he sent me last night, what do I do?\n\n> im bringing a knife to school tomorrow\n"
    assert "RISK_VIOLENT_THREAT" not in codes(flt, reply, Role.STUDENT, (Role.STAFF,))
    assert "RISK_VIOLENT_THREAT" in codes(flt, "im bringing a knife to school tomorrow", Role.STUDENT, (Role.STAFF,))
    quoted = "Thanks for telling me.\n> i took a load of pills last night\n"
    finding = next(f for f in flt.analyse([quoted], Role.STAFF, (Role.STUDENT,)) if f.code == "RISK_SELF_HARM")
    assert all(e in quoted for e in finding.evidence)


def test_bullying_needs_a_target(flt: RiskFilter) -> None:
    """Abuse aimed at someone: a headline calling a pipeline dumb (SpamAssassin ham) is not bullying."""
    assert "RISK_BULLYING" in codes(flt, "you are so ugly and pathetic, nobody likes you")
    assert "RISK_BULLYING" not in codes(flt, "Our Dumb Pipeline")


def test_whole_text_path_reads_a_pupils_own_words_only() -> None:
    """The whole-text model runs for a pupil's own words; staff and outsiders' mail, and quoted
    text, are judged by their sentence windows alone. With its threshold at 0, every pupil text
    is reported through it (which shows the path runs), with the top sentences as evidence."""
    always = RiskFilter(Options(text_thresholds={"self_harm": 0.0}, thresholds={"self_harm": 0.9999},
                                cue_thresholds={}, whole_text_gate=False, whole_text_min_chars=0),
                        FilterContext(settings=None, directory=None))
    text = "Had a long day. Going to the park with Sam later. See you tomorrow."
    found = [f for f in always.analyse([text], Role.STUDENT, (Role.EXTERNAL,)) if f.code == "RISK_SELF_HARM"]
    assert found and "read as a whole" in found[0].reason and all(e in text for e in found[0].evidence)
    # a short message (under whole_text_min_chars, 100 by default) is one window: not read as a whole
    floored = RiskFilter(Options(text_thresholds={"self_harm": 0.0}, thresholds={"self_harm": 0.9999},
                                 cue_thresholds={}, whole_text_gate=False), FilterContext(settings=None, directory=None))
    assert "RISK_SELF_HARM" not in codes(floored, text)
    longer = text + " Mum is making pasta tonight and then we are watching a film together."
    assert "RISK_SELF_HARM" in codes(floored, longer)
    # cheap first: with the gate, a text whose best window is far below it is not read as a whole
    gated = RiskFilter(Options(text_thresholds={"self_harm": 0.0}, thresholds={"self_harm": 0.9999},
                               cue_thresholds={}), FilterContext(settings=None, directory=None))
    assert shipped_model().score(text, sentences.spans(text)).best("self_harm") < shipped_model().whole_text.gates[0]
    assert not [f for f in gated.analyse([text], Role.STUDENT, (Role.EXTERNAL,)) if f.code == "RISK_SELF_HARM"]
    assert not [f for f in always.analyse([text], Role.STAFF, (Role.STUDENT,)) if f.code == "RISK_SELF_HARM"]
    quoted_only = "> " + text
    assert not [f for f in always.analyse([quoted_only], Role.STUDENT, (Role.EXTERNAL,)) if f.code == "RISK_SELF_HARM"]
    off = RiskFilter(Options(whole_text=False), FilterContext(settings=None, directory=None))
    assert off.text_thresholds == {} and always.text_thresholds == {"self_harm": 0.0}
    with pytest.raises(ValueError, match="no whole-text model"):
        RiskFilter(Options(text_thresholds={"bullying": 0.5}), FilterContext(settings=None, directory=None))


def test_the_whole_text_model_reads_a_long_post(flt: RiskFilter) -> None:
    """Written for this test (not in training): a pupil's long post about how they feel reads as
    a risk as a whole; an equally long, chatty one does not."""
    post = ("I dont really know why im writing this. Everything has felt heavy for months now. "
            "I stopped going to football and I dont answer my friends anymore. "
            "Every night I lie awake thinking everyone would be better off. "
            "I keep thinking about how it would feel to just not wake up. "
            "I have been reading about how much it would take. "
            "I feel like such a burden on my mum and I am so tired of pretending I am fine.")
    chat = ("omg did you see the match last night, we were robbed. anyway are you coming to ellas party "
            "on saturday? her mum said we can stay till eleven. i still havent done the history homework "
            "and its due tomorrow, can you send me a pic of yours? also mr patel gave us a surprise quiz "
            "and i got 18 out of 20 which is my best ever. cant wait for half term, were going to my nans.")
    whole = shipped_model().whole_text
    threshold = flt.text_thresholds["self_harm"]
    sad, ordinary = whole.probability([model_text(post), model_text(chat)])[:, 0]
    assert sad >= threshold > ordinary
    findings = [f for f in flt.analyse([post], Role.STUDENT, (Role.EXTERNAL,)) if f.code == "RISK_SELF_HARM"]
    assert findings and all(e in post for e in findings[0].evidence)
    assert not flt.analyse([chat], Role.STUDENT, (Role.EXTERNAL,))


def test_a_threat_against_a_group_is_found_through_the_hate_label() -> None:
    """The threat label alone scores calls for violence against a group low (its public positives are
    few); the hate label finds the sentence and the same words carry an explicit threat cue."""
    text = "jews deserve to die"
    on = RiskFilter(Options(), FilterContext(settings=None, directory=None))
    # threat_rules off too: the wording alone (filters/threat_cues.py) also reads "deserve to die"
    off = RiskFilter(Options(group_threats=False, threat_rules=False), FilterContext(settings=None, directory=None))
    found = {f.code: f for f in on.analyse([text], Role.STUDENT, (Role.STUDENT,))}
    assert "RISK_HATE" in found and "RISK_VIOLENT_THREAT" in found
    threat = found["RISK_VIOLENT_THREAT"]
    assert "against a group" in threat.reason and threat.level == 4 and threat.evidence == (text,)
    assert {f.code for f in off.analyse([text], Role.STUDENT, (Role.STUDENT,))} == {"RISK_HATE"}
    # hate without a threat stays hate only
    assert "RISK_VIOLENT_THREAT" not in {f.code for f in on.analyse(
        ["those people are ruining this country and should go back"], Role.STUDENT, (Role.STUDENT,))}


def test_cue_path_in_a_longer_text_needs_the_cue_in_a_concerning_sentence() -> None:
    """Below the threshold a self-harm window counts only with a cue; in a text longer than one
    window the cue must be in a sentence the model finds concerning itself (the window's best
    sentence or one at the cue threshold), not in a neighbour: people who write about suicide to
    help others (C-SSRS Supportive users) were flagged that way. A short message (one window) keeps
    the old rule. Hand-written; the cue threshold lowered so the window reaches it."""
    low = RiskFilter(Options(cue_thresholds={"self_harm": 0.25}), FilterContext(settings=None, directory=None))
    opening = ("Thanks for the notes from chemistry. I have been so tired and low all week and nothing feels "
               "worth it. Loads of people in our year joke that they want to die over the mocks.")
    longer = opening + (" Mr Patel moved the test to Friday. Are you going to the match on Saturday? My brother "
                        "can give us a lift. See you at lunch tomorrow.")
    model = shipped_model()
    column = model.labels.index("self_harm")
    scores = model.score(longer, sentences.spans(longer))
    # the window around the opening reaches 0.25, the cue sentence ("want to die") itself does not
    assert scores.combined[0, column] >= 0.25 > scores.sentence[2, column]
    assert scores.sentence[1, column] > scores.sentence[2, column]
    def self_harm(text: str) -> list:
        return [f for f in low.analyse([text], Role.STUDENT, (Role.STUDENT,)) if f.code == "RISK_SELF_HARM"]
    assert not self_harm(longer)
    found = self_harm(opening)
    assert found and "risk cue" in found[0].reason and all(e in opening for e in found[0].evidence)


# Farewells (filters/risk.py _farewell): a school's ordinary goodbyes (a last day, a leaving
# do, moving house or school, retiring, a trip) are not a self-harm cue; a goodbye that reads
# as an ending (forever, "by the time you read this", a note, an apology with no return) is.
# Written for this rule; none is in config/lists/risk_examples/ or a corpus.
@pytest.mark.parametrize("text", [
    "its my last day tomorrow, goodbye all",
    "its my last day at school on friday, goodbye everyone and thanks for everything",
    "Dear colleagues, after 12 years this is my last day. Goodbye everyone, please keep in touch.",
    "last day of school ever, goodbye everyone, best years of my life",
    "Hi all, as you know I am retiring at the end of term. Goodbye and thank you for 30 wonderful years.",
    "leaving do is on friday at the red lion, come and say goodbye",
    "we're moving house next week so this is my last week at school, goodbye guys i'll miss you",
    "end of term tomorrow!! goodbye year 9, see you in september",
    "goodbye from the year 7 trip to france, we are having a great time",
    "i'll miss you all so much, goodbye and keep in touch",
    "goodbye forever year 6!! off to big school",
    "i wont be around much longer today, i have to go to my nans",
    "i wont be in tomorrow, i have a dentist appointment",
    "Goodbye everyone, I'm sorry I couldn't make the leaving do",
    "sorry gotta go, bye everyone",
    "goodbye, i wont be here tomorrow, i have a hospital appointment",
    "Tomorrow I start at Greenfield Academy. Goodbye everyone!",
    "ok im logging off now, goodbye everyone",
    "this was my final lesson with 10B, goodbye everyone and good luck",
    "i hate goodbyes. goodbye everyone, ill never forget you",
    "goodbye everyone, im so tired, see yall",
    "I'm leaving the choir. Goodbye everyone, it was fun",
])
def test_ordinary_farewells_are_not_self_harm(flt: RiskFilter, text: str) -> None:
    assert "RISK_SELF_HARM" not in codes(flt, text)


def test_a_leaving_date_does_not_make_a_farewell_critical(flt: RiskFilter) -> None:
    """The model alone reads this as low mood (it scores above its threshold); the leaving
    event keeps the goodbye from grading it a plan (level 5)."""
    text = "im moving to scotland so i wont be around anymore after christmas, goodbye everyone"
    assert all(f.level < 5 for f in flt.analyse([text], Role.STUDENT, (Role.EXTERNAL,)))


@pytest.mark.parametrize("text", [
    "this is my last day, goodbye everyone, i wont be around anymore",
    "by the time you read this i will be gone",
    "tell mum i love her, i'm sorry, goodbye forever",
    "im sorry for everything. goodbye",
    "goodbye cruel world",
    "when im gone please tell my sister its not her fault",
    "im sorry i wasnt good enough. goodbye forever",
    "this is my goodbye. i wont be here tomorrow",
    "goodbye everyone, you wont have to deal with me anymore",
    "this will be my last message. sorry for everything",
    "goodbye. nobody will even notice",  # a goodbye and giving up
    "im done. goodbye all",
    # a bare goodbye grades what the model found on its own score (it is no cue by itself)
    "goodbye everyone. i cant take it anymore, nothing will ever get better",
])
def test_suicidal_farewells_are_found_as_a_goodbye(flt: RiskFilter, text: str) -> None:
    finding = next(f for f in flt.analyse([text], Role.STUDENT, (Role.EXTERNAL,)) if f.code == "RISK_SELF_HARM")
    assert finding.level == 5 and finding.severity is Severity.CRITICAL
    assert "goodbye" in finding.reason


# An intensifier or a swear between a cue's words does not hide it.
@pytest.mark.parametrize("text", [
    "i want to fucking die",
    "i wanna fkn die",
    "i want to just die",
    "i really really want to die",
    "i wanna die",
    "honestly i want to end my fucking life",
])
def test_intensifiers_inside_a_cue(flt: RiskFilter, text: str) -> None:
    finding = next(f for f in flt.analyse([text], Role.STUDENT, (Role.EXTERNAL,)) if f.code == "RISK_SELF_HARM")
    assert finding.level == 4


@pytest.mark.parametrize("text", [
    "i just want to die of embarrassment lol",
    "i want to die my hair pink",
    "i literally want to die, the teacher saw my message",
])
def test_idioms_with_an_intensifier_are_not_self_harm(flt: RiskFilter, text: str) -> None:
    assert "RISK_SELF_HARM" not in codes(flt, text)


@pytest.mark.parametrize("text", [
    "holy shit you did it",  # swearing alone is not bullying (seventh pass)
    "who gives a shit, you passed",
    "what the fuck, you're here early",
    "you're a bloody star",  # praise of the reader
    "you're a genius",
])
def test_swearing_or_praise_alone_is_not_bullying(text: str) -> None:
    flt = RiskFilter(Options(), FilterContext(settings=None, directory=None))
    found = [f.code for f in flt.analyse([text], Role.STUDENT, (Role.STUDENT,))]
    assert "RISK_BULLYING" not in found, (text, found)


@pytest.mark.parametrize("text", [
    "nobody fucking likes you",
    "everyone thinks you're a fucking loser",
    "you're a genius, not. everyone laughs at you",
])
def test_bullying_with_swearing_or_mock_praise_still_counts(text: str) -> None:
    flt = RiskFilter(Options(), FilterContext(settings=None, directory=None))
    found = [f.code for f in flt.analyse([text], Role.STUDENT, (Role.STUDENT,))]
    assert "RISK_BULLYING" in found, (text, found)
